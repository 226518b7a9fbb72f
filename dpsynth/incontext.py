r"""An offline next-token model that learns from the examples in its prompt.

:class:`InContextModel` replaces a language model in the demo, the
notebooks and the tests. It needs no network and no weights, and it is a pure
function of the prompt. Its next-token distribution depends on the few-shot
examples in the prompt in the way that matters to the mechanism: continuing a
prefix, it favours the words that follow that prefix in the examples of the
requested label.

Tokens
------
A token is a word, with the apostrophe forms ``I'm`` and ``don't`` kept whole,
or a single punctuation character. Every token carries the space before it, as
the tokens of BPE tokenizers do: ``"I'm feeling hot, sorry."`` is
``[" I'm", " feeling", " hot", ",", " sorry", "."]``. :func:`tokenize` folds
whitespace first, so ``"".join(tokenize(t)).strip()`` is ``t`` with every run of
whitespace folded into one space. A text ends where its line ends, so the stop
token is ``"\n"``.

What the model reads in a prompt
--------------------------------
The prompt has the layout of :mod:`dpsynth.prompts`: an instruction, example
blocks ``"{label_heading}: y\n{text_heading}: text\n\n"``, and a final block
``"{label_heading}: y\n{text_heading}:" + prefix``. The requested label is the
final block's label. The in-context examples are the blocks whose label equals
the requested label; blocks of other labels and the instruction are ignored.
Each example is the token sequence :math:`x = (s, \dots, s, x_1, \dots, x_m,
\text{"\n"})` with :math:`n - 1` start symbols :math:`s`, where :math:`n` is
the n-gram order. The context :math:`h` is the last :math:`n - 1` tokens of the
prefix, padded on the left with :math:`s`; :math:`h_k` is its last :math:`k`
tokens (:math:`h_0` is empty).

Background: the model's pretraining
-----------------------------------
The background :math:`P_{bg}` is an interpolated Kneser-Ney n-gram model of
the public corpus, a text written for this project that shares no sentence
with the demo dataset, and never of private data. With absolute discount :math:`D` and :math:`N_{1+}` the number of distinct
words with a positive count,

.. math::

    P_{KN}(w \mid h_k) = \frac{\max(c(h_k w) - D, 0)}{c(h_k \cdot)}
        + \frac{D \, N_{1+}(h_k \cdot)}{c(h_k \cdot)} P_{KN}(w \mid h_{k-1}),

where :math:`c` is the raw count at the highest order :math:`k = n - 1` and
the continuation count :math:`N_{1+}(\cdot\, h_k w)` (the number of distinct
words seen before :math:`h_k w`) at the lower orders. An unseen context
:math:`h_k` passes :math:`P_{KN}(\cdot \mid h_{k-1})` through unchanged, and
the recursion ends at the continuation unigram
:math:`P_{KN}(w) = N_{1+}(\cdot\, w) / N_{1+}(\cdot\,\cdot)`.

The background also conditions on the label, because the label is public and
a pretrained model knows that a migraine comes with a headache. The corpus is
a set of posts, separated by blank lines, with one sentence per line. The
sentences of the posts that mention the label (case-insensitive, whole words,
with an optional plural ending ``s``, ``es`` or ``y`` to ``ies`` on the last
word) form a topic corpus :math:`C_y` with its own Kneser-Ney model, and

.. math::

    P_{bg}(w \mid h, y) = (1 - \tau_y) P_{KN}(w \mid h) + \tau_y P_{KN}^{C_y}(w \mid h),

with :math:`\tau_y` = ``topic_weight`` when :math:`C_y` is not empty and 0
otherwise, so a label that the corpus never mentions gets the plain
background.

In-context component
--------------------
Two steps adapt the background to the examples of the requested label. Let
:math:`c_k(w)` be the number of positions in the examples where :math:`w`
follows :math:`h_k`, and :math:`c_k = \sum_w c_k(w)`. So :math:`c_0(w)` counts
every occurrence of :math:`w` in the examples, stop tokens included.

*Unigram rescaling* moves the background toward the examples' vocabulary.
With :math:`f_y(w) = (1 - \tau_y) f(w) + \tau_y f^{C_y}(w)` the relative
frequency of :math:`w` in the public text behind :math:`P_{bg}` for label
:math:`y`,

.. math::

    u(w) = \frac{c_0(w) + \mu f_y(w)}{c_0 + \mu}, \qquad
    \alpha(w) = \left(\frac{u(w)}{f_y(w)}\right)^{\gamma}, \qquad
    P_r(w) = \frac{\alpha(w) P_{bg}(w \mid h, y)}{\sum_v \alpha(v) P_{bg}(v \mid h, y)},

with :math:`\mu` = ``rescaling_prior`` pseudo-counts and :math:`\gamma` =
``rescaling_exponent``. A word that the examples use more often than the
public text gains weight, and a word that they never use loses the factor
:math:`(\mu / (c_0 + \mu))^{\gamma}`. Function words, about as frequent in
both, keep their weight. The context still comes from the background, so a
word that the background finds implausible after :math:`h` stays unlikely.
This is how the examples shift the topic and wording even where the prefix
never occurs in them.

*Copying*: each order smooths the one below as a Dirichlet prior with
concentration :math:`\kappa_k`, a hierarchical Dirichlet smoothing:

.. math::

    P^{(-1)}(w) = P_r(w), \qquad
    P^{(k)}(w) = \frac{c_k(w) + \kappa_k P^{(k-1)}(w)}{c_k + \kappa_k},
    \quad k = 0, \dots, n - 1,

and the model returns :math:`P = P^{(n-1)}`. A small :math:`\kappa_k` trusts
the examples at order :math:`k`: with the defaults, a context of two or more
tokens that occurs once in the examples sends at least half of the probability
to the word that followed it there, which is how a few-shot prompt makes a
language model copy. A large :math:`\kappa_0` keeps the context-free word
counts of the examples from drowning the background where the context was
never seen in them.

Consequences that the tests check: without in-context examples every count is
zero, :math:`\alpha \equiv 1`, and :math:`P = P_{bg}` exactly; a word that
occurs in one example gets probability at least :math:`\prod_{k \ge 1}
\kappa_k / (c_k + \kappa_k) \cdot 1 / (c_0 + \kappa_0)` at every step and much
more right after the context it followed; where an example ends, the stop
token follows. :math:`P` is a proper distribution over the background
vocabulary plus the tokens of the examples, and every token of that vocabulary
has a positive probability.

Outside the tokens of the examples, :math:`\alpha` is the constant
:math:`\alpha_0 = (\mu / (c_0 + \mu))^{\gamma}` and every count is zero, so
:math:`P(w) = A \, \alpha_0 / Z \cdot P_{bg}(w \mid h, y)` with
:math:`A = \prod_k \kappa_k / (c_k + \kappa_k)` and :math:`Z` the normaliser
of :math:`P_r`, which needs a sum over the examples' tokens only. The top-k are
therefore found among those tokens and the leading background tokens, without
a pass over the whole vocabulary. The background vectors of each context are
cached.
"""

from __future__ import annotations

import functools
import heapq
import importlib.resources
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dpsynth.models import validate_top_k
from dpsynth.prompts import PromptBundle

__all__ = [
    "STOP_TOKEN",
    "InContextModel",
    "KneserNeyModel",
    "ParsedPrompt",
    "label_pattern",
    "load_public_corpus",
    "parse_prompt",
    "tokenize",
]

STOP_TOKEN = "\n"
"""The token that ends a text: a generated text is one line."""

START_SYMBOL = "<s>"
"""The padding before a text's first token. It is never predicted."""

_TOKEN = re.compile(r" ?\w+(?:['’]\w+)*| ?[^\s\w]")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word and punctuation tokens, each with its leading space.

    Whitespace is folded into single spaces and the text is read as if a space
    preceded it, so the first word gets a leading space as well.
    ``"".join(tokenize(text)).strip()`` equals the folded text.
    """
    folded = " ".join(text.split())
    if not folded:
        return []
    return _TOKEN.findall(" " + folded)


def load_public_corpus() -> str:
    """Return the bundled public corpus: posts separated by blank lines, one sentence per line."""
    resource = importlib.resources.files("dpsynth") / "datasets" / "public_corpus.txt"
    return resource.read_text(encoding="utf-8")


@dataclass(frozen=True)
class ParsedPrompt:
    """The parts of a prompt that the model reads.

    Attributes
    ----------
    examples
        Every example block as a ``(label, text)`` pair, in prompt order; the
        model reads only those whose label is ``label``.
    label
        The requested label, from the final block.
    prefix
        The text after the final text heading: the tokens generated so far.
    """

    examples: tuple[tuple[str, str], ...]
    label: str
    prefix: str


def _after_heading(line: str, heading: str) -> str | None:
    return line[len(heading):] if line.startswith(heading) else None


def parse_prompt(prompt: str, bundle: PromptBundle) -> ParsedPrompt:
    """Split a prompt built by :mod:`dpsynth.prompts` into examples, label and prefix.

    Raises
    ------
    ValueError
        The prompt does not end with a label line and a text line in the
        layout of ``bundle``. The message quotes the headings, never the prompt.
    """
    label_heading, text_heading = bundle.headings
    lines = prompt.split("\n")
    prefix = _after_heading(lines[-1], text_heading)
    label = _after_heading(lines[-2], label_heading) if len(lines) >= 2 else None
    if prefix is None or label is None:
        raise ValueError(
            f"The prompt does not end with a {label_heading!r} line followed by a "
            f"{text_heading!r} line: build it with dpsynth.prompts.zero_shot_prompt or "
            "few_shot_prompt and the same PromptBundle as the model."
        )
    examples = []
    for index in range(len(lines) - 3):
        line = lines[index]
        if line.startswith(label_heading):
            text_line = lines[index + 1]
            if text_line.startswith(text_heading):
                examples.append(
                    (line[len(label_heading):].strip(), text_line[len(text_heading):].strip())
                )
    return ParsedPrompt(tuple(examples), label.strip(), prefix)


def label_pattern(label: str) -> re.Pattern[str]:
    """Return the pattern that finds ``label`` in lower-case text.

    It matches the label's words as whole words separated by whitespace, with
    an optional plural ending on the last word: ``s`` or ``es``, or ``ies`` in
    place of a final ``y``.
    """
    words = [re.escape(word) for word in label.lower().split()]
    last = label.lower().split()[-1]
    if last.endswith("y"):
        words[-1] = re.escape(last[:-1]) + "(?:y|ies)"
    else:
        words[-1] += "(?:s|es)?"
    return re.compile(r"\b" + r"\s+".join(words) + r"\b")


def _split_posts(text: str) -> list[list[str]]:
    """Split text into posts at blank lines, each a list of its non-empty stripped lines."""
    posts = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            posts.append(lines)
    return posts


def _padded_sentences(texts: Iterable[str], order: int) -> list[list[str]]:
    start = [START_SYMBOL] * (order - 1)
    return [start + tokenize(text) + [STOP_TOKEN] for text in texts if text.strip()]


class KneserNeyModel:
    """An interpolated Kneser-Ney n-gram model over a fixed vocabulary.

    Parameters
    ----------
    sentences
        Token sequences, each padded with ``order - 1`` start symbols and ended
        by the stop token.
    vocabulary
        The sorted tokens that the returned vectors index. It must contain every
        predicted token of ``sentences``.
    order
        The n-gram order n: contexts are the last ``n - 1`` tokens.
    discount
        The absolute discount D, in counts, between 0 (exclusive) and 1.

    The formula is in this module's docstring. A vector is zero outside the
    tokens of ``sentences`` and sums to 1.
    """

    def __init__(
        self,
        sentences: Sequence[Sequence[str]],
        vocabulary: Sequence[str],
        order: int,
        discount: float,
        cache_size: int = 4096,
    ) -> None:
        self.order = order
        self.discount = discount
        self._index = {token: position for position, token in enumerate(vocabulary)}
        self._size = len(vocabulary)
        self._tables = self._count(sentences)
        self.vector = functools.lru_cache(maxsize=cache_size)(self._compute_vector)
        frequency = np.zeros(self._size)
        for sentence in sentences:
            for token in sentence[order - 1:]:
                frequency[self._index[token]] += 1
        self.unigram_frequency = frequency / frequency.sum()
        """The relative frequency of each vocabulary token among the predicted tokens."""

    def _count(self, sentences: Sequence[Sequence[str]]) -> list[dict]:
        top = self.order - 1
        raw: dict[tuple[str, ...], Counter] = defaultdict(Counter)
        left_words: list[dict[tuple[str, ...], set]] = [defaultdict(set) for _ in range(top)]
        for sentence in sentences:
            for position in range(top, len(sentence)):
                word = sentence[position]
                raw[tuple(sentence[position - top:position])][word] += 1
                for k in range(top):
                    gram = tuple(sentence[position - k:position + 1])
                    left_words[k][gram].add(sentence[position - k - 1])
        tables: list[dict] = [dict() for _ in range(self.order)]
        for context, counter in raw.items():
            tables[top][context] = self._arrays(counter)
        for k in range(top):
            continuation: dict[tuple[str, ...], Counter] = defaultdict(Counter)
            for gram, words in left_words[k].items():
                continuation[gram[:-1]][gram[-1]] = len(words)
            for context, counter in continuation.items():
                tables[k][context] = self._arrays(counter)
        return tables

    def _arrays(self, counter: Counter) -> tuple[np.ndarray, np.ndarray]:
        indices = np.fromiter((self._index[word] for word in counter), dtype=np.int64)
        counts = np.fromiter(counter.values(), dtype=np.float64)
        return indices, counts

    def _compute_vector(self, context: tuple[str, ...]) -> np.ndarray:
        """Return P_KN(. | context) over the vocabulary, for a context of 0 to n-1 tokens."""
        table = self._tables[len(context)].get(context)
        if not context:
            vector = np.zeros(self._size)
            if table is not None:
                indices, counts = table
                vector[indices] = counts / counts.sum()
        else:
            lower = self.vector(context[1:])
            if table is None:
                return lower
            indices, counts = table
            total = counts.sum()
            vector = lower * (self.discount * len(counts) / total)
            vector[indices] += np.maximum(counts - self.discount, 0.0) / total
        vector.flags.writeable = False
        return vector


class InContextModel:
    """A deterministic offline next-token model that learns from its prompt's examples.

    Parameters
    ----------
    bundle
        The prompt wording that :func:`parse_prompt` reads.
    background
        The public text of the background model: posts separated by blank
        lines, one sentence per line. The bundled public corpus when None.
        Never pass private data here.
    order
        The n-gram order n of the background and the in-context component
        (2 to 6): contexts are the last ``n - 1`` tokens.
    discount
        The Kneser-Ney absolute discount D of the background, in (0, 1].
    topic_weight
        The weight tau in [0, 1) of the label's topic model in the background.
        0 makes the background ignore the label.
    rescaling_exponent
        The exponent gamma in [0, 1] of the unigram rescaling; 0 turns it off.
    rescaling_prior
        The pseudo-counts mu, positive, with which the public frequencies
        smooth the examples' word frequencies in the unigram rescaling.
    concentrations
        The Dirichlet concentrations kappa_0 .. kappa_{n-1}, in pseudo-counts,
        one per in-context order from the unigram up; all positive. None gives
        ``(200, 4, 1, 1, 1)`` for order 5: the first ``order`` values of
        ``(200, 4, 1, 1, 1, 1)``.
    cache_size
        The number of background vectors kept per label, each a float64 array
        over the vocabulary.

    Notes
    -----
    The model's formulas are in the docstring of :mod:`dpsynth.incontext`.
    """

    def __init__(
        self,
        bundle: PromptBundle = PromptBundle(),
        background: str | None = None,
        *,
        order: int = 5,
        discount: float = 0.75,
        topic_weight: float = 0.6,
        concentrations: Sequence[float] | None = None,
        rescaling_exponent: float = 0.75,
        rescaling_prior: float = 5.0,
        cache_size: int = 4096,
    ) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or not 2 <= order <= 6:
            raise ValueError(f"order={order!r} is invalid: give a whole number from 2 to 6.")
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount={discount!r} is invalid: give a number in (0, 1].")
        if not 0.0 <= topic_weight < 1.0:
            raise ValueError(f"topic_weight={topic_weight!r} is invalid: give a number in [0, 1).")
        if concentrations is None:
            concentrations = (200.0, 4.0, 1.0, 1.0, 1.0, 1.0)[:order]
        if not 0.0 <= rescaling_exponent <= 1.0:
            raise ValueError(
                f"rescaling_exponent={rescaling_exponent!r} is invalid: give a number in [0, 1]."
            )
        if not (math.isfinite(rescaling_prior) and rescaling_prior > 0):
            raise ValueError(
                f"rescaling_prior={rescaling_prior!r} is invalid: give a positive number of pseudo-counts."
            )
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size={cache_size!r} is invalid: give a whole number, 1 or more.")
        concentrations = tuple(float(value) for value in concentrations)
        if len(concentrations) != order or not all(
            math.isfinite(value) and value > 0 for value in concentrations
        ):
            raise ValueError(
                f"concentrations={concentrations!r} is invalid: give {order} positive "
                "finite numbers, one per in-context order from the unigram up."
            )
        self.bundle = bundle
        self.order = order
        self.discount = discount
        self.topic_weight = topic_weight
        self.concentrations = concentrations
        self.rescaling_exponent = rescaling_exponent
        self.rescaling_prior = rescaling_prior
        self._cache_size = cache_size

        text = load_public_corpus() if background is None else background
        self._posts = _split_posts(text)
        if not self._posts:
            raise ValueError("background is empty: give public text with one sentence per line.")
        sentences = _padded_sentences((line for post in self._posts for line in post), order)
        tokens = {token for sentence in sentences for token in sentence} - {START_SYMBOL}
        self.vocabulary: tuple[str, ...] = tuple(sorted(tokens))
        self._index = {token: position for position, token in enumerate(self.vocabulary)}
        self._general = KneserNeyModel(sentences, self.vocabulary, order, discount, cache_size)
        self._topic_models = functools.lru_cache(maxsize=256)(self._build_topic_model)
        self._background = functools.lru_cache(maxsize=cache_size)(self._compute_background)
        self._marginals = functools.lru_cache(maxsize=256)(self._compute_marginal)

    @property
    def name(self) -> str:
        """The model's name in reports: ``"mock"``."""
        return "mock"

    @property
    def max_top_k(self) -> int:
        """The largest ``top_k`` the model returns: 20, the limit of OpenAI's chat completions API."""
        return 20

    # Background -----------------------------------------------------------

    def _build_topic_model(self, label: str) -> KneserNeyModel | None:
        if not label.split() or self.topic_weight == 0.0:
            return None
        pattern = label_pattern(label)
        texts = [
            line
            for post in self._posts
            if any(pattern.search(line.lower()) for line in post)
            for line in post
        ]
        if not texts:
            return None
        sentences = _padded_sentences(texts, self.order)
        return KneserNeyModel(sentences, self.vocabulary, self.order, self.discount, self._cache_size)

    def _compute_background(self, label: str, context: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Return P_bg(. | context, label) and the vocabulary positions sorted by it.

        The vector has one extra entry, 0, after the vocabulary: the position of
        every token outside it. The order is by decreasing probability, ties by
        token, so that the top-k are deterministic.
        """
        vector = self._general.vector(context)
        topic = self._topic_models(label)
        if topic is not None:
            vector = (1.0 - self.topic_weight) * vector + self.topic_weight * topic.vector(context)
        order = np.lexsort((np.arange(len(vector)), -vector)).astype(np.int32)
        extended = np.append(vector, 0.0)
        extended.flags.writeable = False
        return extended, order

    def _compute_marginal(self, label: str) -> np.ndarray:
        """Return the background's unigram frequency f_y for ``label``, with 1 for tokens outside it.

        The trailing 1 only avoids a division by zero: those tokens have
        background probability 0, so their rescaling factor never counts.
        """
        frequency = self._general.unigram_frequency
        topic = self._topic_models(label)
        if topic is not None:
            frequency = (1.0 - self.topic_weight) * frequency + self.topic_weight * topic.unigram_frequency
        extended = np.append(frequency, 1.0)
        extended.flags.writeable = False
        return extended

    def background_distribution(self, label: str, prefix: str = "") -> dict[str, float]:
        """Return the background's next-token probabilities after ``prefix`` for ``label``.

        It is what the model returns for the public prompt: no in-context examples.
        """
        vector, _ = self._background(label, self._context(prefix))
        return dict(zip(self.vocabulary, vector[:-1].tolist()))

    def _context(self, prefix: str) -> tuple[str, ...]:
        tokens = tokenize(prefix)
        width = self.order - 1
        padded = [START_SYMBOL] * max(width - len(tokens), 0) + tokens[-width:]
        return tuple(padded)

    # In-context component -------------------------------------------------

    def _in_context(
        self,
        examples: Sequence[Sequence[str]],
        context: tuple[str, ...],
        background: np.ndarray,
        marginal: np.ndarray,
    ) -> tuple[float, dict[str, float]]:
        """Return ``scale`` and ``exact`` such that P(w) = scale * P_bg(w) outside the examples.

        ``exact`` maps every token of the padded ``examples`` to P(w). Both steps
        of the model, the unigram rescaling and the Dirichlet recursion, change
        the background by one common factor outside the examples' tokens.
        """
        flat = [token for sequence in examples for token in sequence]
        counts = [Counter(flat)]
        counts[0].pop(START_SYMBOL, None)
        if not counts[0]:
            return 1.0, {}
        # Positions whose preceding k tokens equal the last k tokens of the
        # context. The padding keeps every look-back inside its own example.
        positions = [
            i for i in range(1, len(flat)) if flat[i - 1] == context[-1] and flat[i] != START_SYMBOL
        ]
        counts.append(Counter(flat[i] for i in positions))
        for k in range(2, self.order):
            positions = [i for i in positions if flat[i - k] == context[-k]]
            counts.append(Counter(flat[i] for i in positions))

        # Unigram rescaling: P_r(w) = P_bg(w) * alpha(w) / Z.
        tokens = list(counts[0])
        outside = len(self.vocabulary)
        indices = [self._index.get(token, outside) for token in tokens]
        shared = background[indices]
        frequency = marginal[indices]
        token_counts = np.fromiter(counts[0].values(), dtype=np.float64, count=len(tokens))
        total = token_counts.sum()
        prior = self.rescaling_prior
        exponent = self.rescaling_exponent
        alpha = ((token_counts + prior * frequency) / ((total + prior) * frequency)) ** exponent
        alpha_outside = (prior / (total + prior)) ** exponent
        normaliser = alpha_outside * max(1.0 - float(shared.sum()), 0.0) + float(shared @ alpha)
        rescaled = (shared * alpha / normaliser).tolist()

        # Dirichlet recursion: P(w) = A * P_r(w) + sum_k beta_k c_k(w).
        weight = 1.0
        betas = [0.0] * self.order
        for k in reversed(range(self.order)):
            level_total = sum(counts[k].values())
            betas[k] = weight / (level_total + self.concentrations[k])
            weight *= self.concentrations[k] / (level_total + self.concentrations[k])
        exact = {
            token: weight * value + betas[0] * count
            for token, value, count in zip(tokens, rescaled, counts[0].values())
        }
        for k in range(1, self.order):
            for token, count in counts[k].items():
                exact[token] += betas[k] * count
        return weight * alpha_outside / normaliser, exact

    def _components(self, prompt: str) -> tuple[np.ndarray, np.ndarray, float, dict[str, float]]:
        parsed = parse_prompt(prompt, self.bundle)
        context = self._context(parsed.prefix)
        start = [START_SYMBOL] * (self.order - 1)
        examples = [
            start + tokenize(text) + [STOP_TOKEN]
            for label, text in parsed.examples
            if label == parsed.label
        ]
        vector, order = self._background(parsed.label, context)
        scale, exact = self._in_context(examples, context, vector, self._marginals(parsed.label))
        return vector, order, scale, exact

    # Public interface -------------------------------------------------------

    def next_token_distribution(self, prompt: str) -> dict[str, float]:
        """Return the next-token probabilities of every token the model can emit.

        The keys are the background vocabulary and the tokens of the in-context
        examples of the requested label; the values are positive and sum to 1.
        This is the slow, complete form of :meth:`next_token_logprobs`.
        """
        vector, _, scale, exact = self._components(prompt)
        probabilities = dict(zip(self.vocabulary, (scale * vector[:-1]).tolist()))
        probabilities.update(exact)
        return probabilities

    def next_token_logprobs(self, prompt: str, top_k: int) -> dict[str, float]:
        """Return the ``top_k`` most probable next tokens with their natural-log probabilities.

        The order is by decreasing probability, ties by token string.
        """
        validate_top_k(self, top_k)
        vector, order, scale, exact = self._components(prompt)
        candidates = [(-value, token) for token, value in exact.items()]
        # Tokens outside the examples keep the background's order, so the first
        # top_k of them in that order are the only ones that can rank.
        added = 0
        for position in order[: top_k + len(exact)].tolist():
            if added == top_k:
                break
            token = self.vocabulary[position]
            if token not in exact:
                candidates.append((-scale * float(vector[position]), token))
                added += 1
        ranked = heapq.nsmallest(top_k, candidates)
        return {token: math.log(-negative) for negative, token in ranked}

    async def top_logprobs(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        """Return the ``top_k`` next-token candidates of each prompt, in prompt order."""
        if isinstance(prompts, str):
            raise TypeError("prompts is a single string: pass a list of prompts, such as [prompt].")
        validate_top_k(self, top_k)
        return [self.next_token_logprobs(prompt, top_k) for prompt in prompts]
