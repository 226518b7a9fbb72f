"""Differentially private synthetic labelled text from an LLM's next-token logprobs.

Each token of a synthetic example is chosen by a noisy vote among few-shot
prompts over disjoint random splits of the private data, restricted to the
top-k tokens of a public zero-shot prompt (Tang et al., "Privacy-Preserving
In-Context Learning with Differentially Private Few-Shot Generation", ICLR 2024).

The modules follow the algorithm's steps: :mod:`~dpsynth.prompts`,
:mod:`~dpsynth.sampling`, :mod:`~dpsynth.distributions`,
:mod:`~dpsynth.mechanisms`, :mod:`~dpsynth.generation` and
:mod:`~dpsynth.accounting`. The names below are the ones most programs need.
"""

from .accounting import EpsilonBounds, PrivacyAccount, PrivacyWarning, calibrate, epsilon
from .data import Example, load_demo, load_records, write_records
from .generation import GenerationConfig, GenerationResult, agenerate, generate
from .generator import SyntheticDatasetGenerator
from .incontext import InContextModel
from .prompts import PromptBundle

__version__ = "0.1.0"

__all__ = [
    "EpsilonBounds",
    "Example",
    "GenerationConfig",
    "GenerationResult",
    "InContextModel",
    "PrivacyAccount",
    "PrivacyWarning",
    "PromptBundle",
    "SyntheticDatasetGenerator",
    "__version__",
    "agenerate",
    "calibrate",
    "epsilon",
    "generate",
    "load_demo",
    "load_records",
    "write_records",
]
