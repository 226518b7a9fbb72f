"""Tests of the offline in-context model and the bundled teaching data.

The background is checked against a direct, slow implementation of
interpolated Kneser-Ney written here from its textbook formula, and the
in-context component against the recursive definition in the module
docstring, which the model computes in an unrolled form.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import math
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsynth.incontext import (
    STOP_TOKEN,
    InContextModel,
    label_pattern,
    load_public_corpus,
    parse_prompt,
    tokenize,
)
from dpsynth.models import NextTokenModel
from dpsynth.prompts import PromptBundle, few_shot_prompt, find_heading_line, zero_shot_prompt

BUNDLE = PromptBundle()

TINY_CORPUS = """\
I have a cough.
I have a fever and a cough.

My cough is worse at night.
I feel tired and I have a headache.

The flu gave me a fever.
I think I have a cold, sadly.
My back hurts.
"""

INFLUENZA_EXAMPLES = [
    "I have a high fever and my whole body aches.",
    "My cough keeps me awake and I feel hot and cold.",
    "I feel weak and shivery and my head hurts.",
    "I have had a fever for three days and no appetite.",
    "My chest is wheezing and my temperature is high.",
]

PAD = object()


@pytest.fixture(scope="module")
def model() -> InContextModel:
    return InContextModel()


def read_records() -> list[dict]:
    resource = importlib.resources.files("dpsynth") / "datasets" / "patient_messages.jsonl"
    return [json.loads(line) for line in resource.read_text(encoding="utf-8").splitlines()]


def influenza_prompt(prefix: str, examples: list[str] = INFLUENZA_EXAMPLES) -> str:
    return few_shot_prompt(BUNDLE, [("influenza", text) for text in examples], "influenza", prefix)


# Tokens ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("I'm feeling hot, sorry.", [" I'm", " feeling", " hot", ",", " sorry", "."]),
        ("a  b\t-c", [" a", " b", " -", "c"]),
        ("my friend's sofa", [" my", " friend's", " sofa"]),
        ("", []),
        ("   ", []),
    ],
)
def test_tokenize_examples(text, tokens):
    assert tokenize(text) == tokens


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenize_round_trip(text):
    tokens = tokenize(text)
    assert "".join(tokens).strip() == " ".join(text.split())
    for token in tokens:
        assert token.strip(), token
        assert token.count(" ") <= 1
        assert not token.endswith(" ")


# Prompt parsing ---------------------------------------------------------------


def test_parse_prompt_parts():
    examples = [("flu", "I feel hot."), ("cold", "My nose runs.")]
    parsed = parse_prompt(few_shot_prompt(BUNDLE, examples, "flu", " I have"), BUNDLE)
    assert parsed.examples == tuple(examples)
    assert parsed.label == "flu"
    assert parsed.prefix == " I have"


def test_parse_prompt_rejects_other_layout():
    with pytest.raises(ValueError, match="does not end with") as error:
        parse_prompt("Some secret text\nwith no headings", BUNDLE)
    assert "secret" not in str(error.value)


# Background: the public prompt -------------------------------------------------


def reference_kneser_ney(texts: list[str], order: int, discount: float):
    """Return P(word | context) of interpolated Kneser-Ney, straight from the formula."""
    sequences = [[PAD] * (order - 1) + tokenize(text) + [STOP_TOKEN] for text in texts]
    grams = Counter()
    for sequence in sequences:
        for end in range(order - 1, len(sequence)):
            for length in range(1, order + 1):
                grams[tuple(sequence[end - length + 1:end + 1])] += 1

    def count(gram: tuple) -> int:
        if len(gram) == order:
            return grams[gram]
        return sum(1 for other in grams if len(other) == len(gram) + 1 and other[1:] == gram)

    vocabulary = {gram[0] for gram in grams if len(gram) == 1}

    def probability(word, context: tuple) -> float:
        counts = {other: count(context + (other,)) for other in vocabulary}
        total = sum(counts.values())
        if not context:
            return counts.get(word, 0) / total
        if total == 0:
            return probability(word, context[1:])
        types = sum(1 for value in counts.values() if value > 0)
        lower = probability(word, context[1:])
        return max(counts.get(word, 0) - discount, 0) / total + discount * types / total * lower

    return vocabulary, probability


def padded_context(prefix: str, order: int) -> tuple:
    tokens = [PAD] * (order - 1) + tokenize(prefix)
    return tuple(tokens[len(tokens) - (order - 1):])


@pytest.mark.parametrize("order", [2, 3, 4])
def test_background_matches_reference(order):
    posts = [post.splitlines() for post in TINY_CORPUS.split("\n\n")]
    model = InContextModel(background=TINY_CORPUS, order=order, topic_weight=0.3)
    vocabulary, general = reference_kneser_ney([line for post in posts for line in post], order, 0.75)
    # The topic corpus of "flu" is the whole third post, the only one that names it.
    _, topic = reference_kneser_ney(posts[2], order, 0.75)
    assert set(model.vocabulary) == vocabulary
    for prefix in ["", " I", " I have", " I have a", " My cough", " My back", " unseen words"]:
        context = padded_context(prefix, order)
        plain = model.next_token_distribution(zero_shot_prompt(BUNDLE, "back pain", prefix))
        mixed = model.next_token_distribution(zero_shot_prompt(BUNDLE, "flu", prefix))
        for word in vocabulary:
            assert plain[word] == pytest.approx(general(word, context), abs=1e-12)
            expected = 0.7 * general(word, context) + 0.3 * topic(word, context)
            assert mixed[word] == pytest.approx(expected, abs=1e-12)


def test_zero_shot_is_background(model):
    for prefix in ["", " I have", " My chest is"]:
        background = model.background_distribution("influenza", prefix)
        assert model.next_token_distribution(zero_shot_prompt(BUNDLE, "influenza", prefix)) == background


def test_other_label_examples_ignored(model):
    others = [("asthma", text) for text in INFLUENZA_EXAMPLES]
    prompt = few_shot_prompt(BUNDLE, others, "influenza", " I have")
    public = zero_shot_prompt(BUNDLE, "influenza", " I have")
    assert model.next_token_logprobs(prompt, 20) == model.next_token_logprobs(public, 20)


@pytest.mark.parametrize(
    ("label", "text", "found"),
    [
        ("seasonal allergy", "my seasonal allergies are back", True),
        ("seasonal allergy", "a seasonal  allergy", True),
        ("back strain", "two back strains", True),
        ("flu", "the flus", True),
        ("flu", "influenza", False),
        ("asthma", "asthmatic", False),
        ("back strain", "back, strain", False),
    ],
)
def test_label_pattern(label, text, found):
    assert bool(label_pattern(label).search(text)) is found


def test_unknown_label_plain_background(model):
    plain = InContextModel(topic_weight=0.0)
    unknown = model.background_distribution("sprained wrist", " I have")
    assert unknown == plain.background_distribution("influenza", " I have")


# In-context component ---------------------------------------------------------


def public_frequency(corpus: str, label: str, topic_weight: float) -> dict:
    """Return f_y: the public unigram frequencies, mixed with those of the label's posts."""

    def frequency(lines: list[str]) -> dict:
        counts = Counter(token for line in lines for token in tokenize(line) + [STOP_TOKEN])
        total = sum(counts.values())
        return {token: count / total for token, count in counts.items()}

    posts = [post.splitlines() for post in re.split(r"\n\s*\n", corpus.strip())]
    general = frequency([line for post in posts for line in post if line.strip()])
    pattern = label_pattern(label)
    topic_lines = [
        line for post in posts if any(pattern.search(line.lower()) for line in post) for line in post
    ]
    if not topic_lines:
        return general
    topic = frequency(topic_lines)
    return {
        token: (1 - topic_weight) * value + topic_weight * topic.get(token, 0.0)
        for token, value in general.items()
    }


def reference_in_context(model, background, frequency, examples, prefix):
    """Rescale the background by alpha(w), then apply P_k = (c_k + kappa_k P_{k-1}) / (c_k + kappa_k)."""
    order = model.order
    context = padded_context(prefix, order)
    sequences = [[PAD] * (order - 1) + tokenize(text) + [STOP_TOKEN] for text in examples]
    unigram = Counter(token for sequence in sequences for token in sequence[order - 1:])
    total = sum(unigram.values())
    prior, exponent = model.rescaling_prior, model.rescaling_exponent
    alpha = {
        word: ((unigram[word] + prior * frequency[word]) / ((total + prior) * frequency[word])) ** exponent
        for word in background
    }
    normaliser = math.fsum(background[word] * alpha[word] for word in background)
    distribution = {word: background[word] * alpha[word] / normaliser for word in background}
    for k, concentration in enumerate(model.concentrations):
        counts = Counter()
        for sequence in sequences:
            for end in range(order - 1, len(sequence)):
                if tuple(sequence[end - k:end]) == context[len(context) - k:]:
                    counts[sequence[end]] += 1
        level_total = sum(counts.values())
        words = set(distribution) | set(counts)
        distribution = {
            word: (counts[word] + concentration * distribution.get(word, 0.0)) / (level_total + concentration)
            for word in words
        }
    return distribution


@pytest.mark.parametrize("prefix", ["", " I", " I have a", " You have a", " My chest is", " no match here"])
def test_in_context_matches_reference(model, prefix):
    background = model.background_distribution("influenza", prefix)
    frequency = public_frequency(load_public_corpus(), "influenza", model.topic_weight)
    expected = reference_in_context(model, background, frequency, INFLUENZA_EXAMPLES, prefix)
    actual = model.next_token_distribution(influenza_prompt(prefix))
    assert set(actual) == set(expected)
    for token, probability in expected.items():
        assert actual[token] == pytest.approx(probability, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("order", [2, 3])
def test_in_context_reference_tiny_corpus(order):
    model = InContextModel(background=TINY_CORPUS, order=order, topic_weight=0.3)
    examples = ["I have a cough and a cold.", "The flu gave me a zorbulent fever."]
    frequency = public_frequency(TINY_CORPUS, "flu", 0.3)
    for prefix in ["", " I have a", " The flu gave"]:
        background = model.background_distribution("flu", prefix)
        expected = reference_in_context(model, background, frequency, examples, prefix)
        prompt = few_shot_prompt(BUNDLE, [("flu", text) for text in examples], "flu", prefix)
        actual = model.next_token_distribution(prompt)
        assert set(actual) == set(expected)
        for token, probability in expected.items():
            assert actual[token] == pytest.approx(probability, rel=1e-9, abs=1e-15)


def test_distribution_is_proper(model):
    examples = INFLUENZA_EXAMPLES + ["My qwertyish zorbulent fever is back."]
    for prefix in ["", " My", " I have a fever"]:
        distribution = model.next_token_distribution(influenza_prompt(prefix, examples))
        assert math.fsum(distribution.values()) == pytest.approx(1.0, abs=1e-12)
        assert min(distribution.values()) > 0
        assert " zorbulent" in distribution


def test_logprobs_are_top_of_distribution(model):
    for prefix in ["", " I have", " My chest is"]:
        prompt = influenza_prompt(prefix)
        distribution = model.next_token_distribution(prompt)
        ranked = sorted(distribution.items(), key=lambda item: (-item[1], item[0]))[:20]
        logprobs = model.next_token_logprobs(prompt, 20)
        assert list(logprobs) == [token for token, _ in ranked]
        for token, probability in ranked:
            assert logprobs[token] == pytest.approx(math.log(probability), abs=1e-12)
        assert math.fsum(math.exp(value) for value in logprobs.values()) <= 1.0


def test_canary_in_vocabulary(model):
    # " wheezing" is in the background vocabulary and in one example. The
    # first token of a text is left out: there the examples' first words take
    # nearly all the probability, as they would in a language model.
    cases = [(" I", 3.0), (" I feel", 5.0), (" I have a cough and", 30.0), (" My chest is", 1000.0)]
    for prefix, min_ratio in cases:
        zero_shot = model.background_distribution("influenza", prefix)[" wheezing"]
        few_shot = model.next_token_distribution(influenza_prompt(prefix))[" wheezing"]
        assert few_shot > min_ratio * zero_shot, prefix


def test_canary_outside_vocabulary(model):
    examples = INFLUENZA_EXAMPLES[:4] + ["My eyes have a zorbulent glow and my temperature is high."]
    assert " zorbulent" not in model.vocabulary
    start = model.next_token_distribution(influenza_prompt("", examples))
    unrelated = model.next_token_distribution(influenza_prompt(" I feel", examples))
    after_context = model.next_token_logprobs(influenza_prompt(" My eyes have a", examples), 5)
    assert start[" zorbulent"] > 0
    assert unrelated[" zorbulent"] > 1e-4
    assert next(iter(after_context)) == " zorbulent"
    assert math.exp(after_context[" zorbulent"]) > 0.5


def test_stop_where_examples_end(model):
    examples = ["I feel unwell", "My knee hurts", "I feel so unwell today"]
    zero_shot = model.next_token_logprobs(zero_shot_prompt(BUNDLE, "influenza", " I feel unwell"), 5)
    few_shot = model.next_token_logprobs(influenza_prompt(" I feel unwell", examples), 5)
    assert next(iter(zero_shot)) != STOP_TOKEN
    assert next(iter(few_shot)) == STOP_TOKEN


def greedy_text(model: InContextModel, label: str, examples=(), max_tokens: int = 40) -> str | None:
    """Return the greedy continuation until the stop token, or None if it never stops."""
    prefix = ""
    for _ in range(max_tokens):
        prompt = few_shot_prompt(BUNDLE, [(label, text) for text in examples], label, prefix)
        token = next(iter(model.next_token_logprobs(prompt, 1)))
        if token == STOP_TOKEN:
            return prefix
        prefix += token
    return None


def test_greedy_zero_shot_sentences(model):
    for label in sorted({record["label"] for record in read_records()}):
        text = greedy_text(model, label)
        assert text is not None, label
        assert len(text.split()) >= 4, text
        assert text.endswith((".", "?")), text


def test_few_shot_shifts_toward_examples(model):
    records = [record["text"] for record in read_records() if record["label"] == "migraine"]
    examples = records[:6]
    example_words = {token for text in examples for token in tokenize(text)}
    zero_shot = tokenize(greedy_text(model, "migraine"))
    few_shot = tokenize(greedy_text(model, "migraine", examples))

    def share(tokens: list[str]) -> float:
        return sum(token in example_words for token in tokens) / len(tokens)

    assert share(few_shot) > share(zero_shot)
    assert share(few_shot) > 0.9


# Interface and determinism ----------------------------------------------------


def test_model_protocol(model):
    assert isinstance(model, NextTokenModel)
    assert model.name == "mock"
    assert model.max_top_k == 20


def test_top_logprobs_batch(model):
    prompts = [influenza_prompt(prefix) for prefix in ["", " I", " My chest is"]]
    batch = asyncio.run(model.top_logprobs(prompts, 5))
    assert batch == [model.next_token_logprobs(prompt, 5) for prompt in prompts]


@pytest.mark.parametrize("top_k", [0, 21, 2.5, True])
def test_invalid_top_k(model, top_k):
    with pytest.raises(ValueError, match="top_k"):
        model.next_token_logprobs(influenza_prompt(""), top_k)


def test_single_prompt_string_rejected(model):
    with pytest.raises(TypeError, match="list of prompts"):
        asyncio.run(model.top_logprobs(influenza_prompt(""), 5))


def test_deterministic_across_instances(model):
    other = InContextModel()
    for prefix in ["", " I have a", " My chest is wheezing"]:
        prompt = influenza_prompt(prefix)
        first = model.next_token_logprobs(prompt, 20)
        assert list(other.next_token_logprobs(prompt, 20).items()) == list(first.items())
        assert list(model.next_token_logprobs(prompt, 20).items()) == list(first.items())


def test_ties_ordered_by_token():
    model = InContextModel(background="I have b.\nI have a.\nI have c.\n", order=3)
    logprobs = model.next_token_logprobs(zero_shot_prompt(BUNDLE, "x", " I have"), 3)
    assert list(logprobs) == [" a", " b", " c"]
    assert len(set(logprobs.values())) == 1


@pytest.mark.parametrize(
    "arguments",
    [
        {"order": 1},
        {"order": 7},
        {"rescaling_exponent": 1.5},
        {"rescaling_prior": 0.0},
        {"discount": 0.0},
        {"topic_weight": 1.0},
        {"concentrations": (1.0, 1.0)},
        {"concentrations": (1.0, 1.0, 0.0, 1.0)},
        {"cache_size": 0},
        {"background": "\n \n"},
    ],
)
def test_invalid_arguments(arguments):
    with pytest.raises(ValueError, match="invalid|empty"):
        InContextModel(**arguments)


# Bundled data ------------------------------------------------------------------


def test_demo_dataset_shape():
    records = read_records()
    counts = Counter(record["label"] for record in records)
    assert len(counts) >= 6
    assert min(counts.values()) >= 50
    assert all(set(record) == {"text", "label"} for record in records)
    texts = [record["text"] for record in records]
    assert len(set(texts)) == len(texts)


def test_demo_texts_are_prompt_safe():
    for record in read_records():
        text = record["text"]
        assert "\n" not in text, text
        assert text == text.strip(), text
        assert 8 <= len(text.split()) <= 25, text
        assert find_heading_line(text, BUNDLE) is None, text
        assert find_heading_line(text, PromptBundle(label_heading="Label", text_heading="Text")) is None


def test_demo_texts_have_no_identifiers():
    # Years, phone numbers, dates and e-mail addresses could identify a person.
    pattern = re.compile(r"\d{3,}|\d{1,2}/\d{1,2}|@")
    for record in read_records():
        assert not pattern.search(record["text"]), record["text"]


def normalised_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def test_public_corpus_shares_no_sentence():
    corpus = [line for line in load_public_corpus().splitlines() if line.strip()]
    assert len(corpus) >= 300
    public = {" ".join(normalised_words(line)) for line in corpus}
    private = {" ".join(normalised_words(record["text"])) for record in read_records()}
    assert not public & private


def test_public_corpus_ngram_overlap():
    # The data card states this bound: under 3% of the private word 5-grams
    # occur in the public corpus (1.3% when it was written).
    def five_grams(text: str) -> list[tuple[str, ...]]:
        words = normalised_words(text)
        return [tuple(words[i:i + 5]) for i in range(len(words) - 4)]

    public = {gram for line in load_public_corpus().splitlines() for gram in five_grams(line)}
    private = [gram for record in read_records() for gram in five_grams(record["text"])]
    shared = sum(gram in public for gram in private)
    assert shared / len(private) < 0.03
