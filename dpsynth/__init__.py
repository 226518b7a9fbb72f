"""Differentially private synthetic labelled text from an LLM's next-token logprobs."""

__version__ = "0.1.0"
