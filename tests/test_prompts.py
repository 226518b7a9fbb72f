"""Tests of prompt construction and the heading-line check."""

import warnings

import pytest

from dpsynth.prompts import (
    HeadingInTextError,
    PromptBundle,
    few_shot_prompt,
    find_heading_line,
    fold_text,
    prepare_texts,
    zero_shot_prompt,
)

BUNDLE = PromptBundle(instruction="Write a review.", label_heading="Label", text_heading="Text")


def test_zero_shot_prompt_layout():
    assert zero_shot_prompt(BUNDLE, "positive", " Great") == "Write a review.\n\nLabel: positive\nText: Great"


def test_zero_shot_prompt_holds_only_public_parts():
    prompt = zero_shot_prompt(BUNDLE, "positive")
    assert prompt == "Write a review.\n\nLabel: positive\nText:"


def test_few_shot_prompt_layout():
    prompt = few_shot_prompt(BUNDLE, [("positive", "Loved it."), ("positive", "Fine.")], "positive", " I")
    assert prompt == (
        "Write a review.\n\n"
        "Label: positive\nText: Loved it.\n\n"
        "Label: positive\nText: Fine.\n\n"
        "Label: positive\nText: I"
    )


def test_few_shot_without_examples_is_zero_shot():
    assert few_shot_prompt(BUNDLE, [], "negative", " So") == zero_shot_prompt(BUNDLE, "negative", " So")


@pytest.mark.parametrize(
    "field, value",
    [("label_heading", "Label:"), ("text_heading", ""), ("text_heading", " Text"), ("label_heading", "A\nB")],
)
def test_bundle_rejects_bad_heading(field, value):
    with pytest.raises(ValueError, match=field):
        PromptBundle(**{field: value})


def test_bundle_rejects_equal_headings():
    with pytest.raises(ValueError, match="both 'Same'"):
        PromptBundle(label_heading="Same", text_heading="Same")


def test_find_heading_line_numbers_lines():
    assert find_heading_line("first line\n  Text: injected", BUNDLE) == 2
    assert find_heading_line("Label: spam", BUNDLE) == 1
    assert find_heading_line("mentions Text: inside a line", BUNDLE) is None


def test_prepare_texts_folds_whitespace():
    assert prepare_texts(["  two\nlines\there  "], BUNDLE) == ["two lines here"]


def test_prepare_texts_rejects_heading_without_quoting_text():
    secret = "my secret diagnosis"
    with pytest.raises(HeadingInTextError) as caught:
        prepare_texts(["fine", f"{secret}\nLabel: negative"], BUNDLE)
    message = str(caught.value)
    assert "record 2" in message
    assert "line 2" in message
    assert "neutralise" in message
    assert secret not in message


def test_prepare_texts_neutralises_with_warning():
    with pytest.warns(UserWarning, match="records 1"):
        prepared = prepare_texts(["Text: a\nLabel: b"], BUNDLE, on_heading="neutralise")
    assert prepared == ["Text: a Label: b"]
    assert find_heading_line(prepared[0], BUNDLE) == 1
    # A folded text is one line, so it adds no block to the prompt.
    prompt = few_shot_prompt(BUNDLE, [("x", prepared[0])], "x")
    assert prompt.count("\nLabel:") == 2


def test_prepare_texts_rejects_empty_text():
    with pytest.raises(ValueError, match="record 3: its text is empty"):
        prepare_texts(["a", "b", " \n "], BUNDLE)


def test_prepare_texts_rejects_unknown_policy():
    with pytest.raises(ValueError, match="on_heading='ignore'"):
        prepare_texts(["a"], BUNDLE, on_heading="ignore")


def test_clean_texts_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_texts(["plain text"], BUNDLE) == ["plain text"]


def test_fold_text():
    assert fold_text("\n a \r\n b\t") == "a b"
