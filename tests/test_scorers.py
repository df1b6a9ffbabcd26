"""Scorers on fixed inputs, edge cases included (empty output, invalid JSON, unicode)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench._portal import run_sync
from workbench.scorers import Score

S = wb.scorers


def test_score_is_a_frozen_dataclass_with_the_shared_signature():
    score = Score(0.5, "half", True)
    assert (score.value, score.explanation, score.passed) == (0.5, "half", True)
    with pytest.raises(AttributeError):
        score.value = 1.0  # type: ignore[misc]
    assert Score(None).explanation == "" and Score(None).passed is None


@pytest.mark.parametrize("output, expected, options, value", [
    ("Paris", "paris", {}, 1.0),
    ("  Paris \n", "Paris", {}, 1.0),
    ("Paris.", "Paris", {}, 0.0),
    ("Paris.", "Paris", {"strip_punctuation": True}, 1.0),
    ("Paris", "paris", {"case_sensitive": True}, 0.0),
    ("New   York", "new york", {}, 1.0),
    ("ＡＢＣ", "abc", {}, 1.0),  # full-width letters equal ASCII after NFKC
    ("", "Paris", {}, 0.0),
    ("Ça va", "ça va", {}, 1.0),
])
def test_exact_match_normalisation(output, expected, options, value):
    score = S.exact_match(**options)(output, {"expected": expected})
    assert score.value == value and score.passed is (value == 1.0)
    assert score.explanation


def test_exact_match_with_its_own_target_and_missing_expected():
    assert S.exact_match("42")("42", {}).value == 1.0
    missing = S.exact_match()("42", {"expected": float("nan")})
    assert missing.value is None and "no expected" in missing.explanation
    assert S.exact_match().needs_expected and not S.exact_match("x").needs_expected


def test_contains_family():
    assert S.contains("paris")("I love PARIS", {}).value == 1.0
    assert S.contains("paris", case_sensitive=True)("I love PARIS", {}).value == 0.0
    assert S.contains("x")("", {}).value == 0.0
    assert S.contains("café")("Un CAFÉ noir", {}).value == 1.0
    assert S.contains_any(["cat", "dog"])("a dog", {}).value == 1.0
    assert S.contains_any(["cat", "dog"])("a bird", {}).passed is False
    partial = S.contains_all(["red", "green", "blue"])("red and blue", {})
    assert partial.value == pytest.approx(2 / 3) and partial.passed is False and "green" in partial.explanation
    assert S.contains_all(["a", "b"])("b a", {}).passed is True
    with pytest.raises(wb.ScorerError):
        S.contains("")
    with pytest.raises(wb.ScorerError):
        S.contains_any("cat")  # a string, not a list
    with pytest.raises(wb.ScorerError):
        S.contains_all([])


def test_regex_and_starts_with():
    assert S.regex(r"\d{4}")("in 1969", {}).value == 1.0
    assert S.regex(r"\d{4}", fullmatch=True)("in 1969", {}).value == 0.0
    assert S.regex(r"\d{4}", fullmatch=True)(" 1969\n", {}).value == 1.0
    assert S.regex(r"^$")("", {}).value == 1.0
    with pytest.raises(wb.ScorerError, match="not a valid regular expression"):
        S.regex("([a-z]")
    assert S.starts_with("yes")("  Yes, indeed", {}).value == 1.0
    assert S.starts_with("yes", case_sensitive=True)("Yes", {}).value == 0.0
    assert S.starts_with("yes")("", {}).value == 0.0


def test_valid_json():
    assert S.valid_json()('{"a": 1}', {}).value == 1.0
    assert S.valid_json()('```json\n{"a": [1, 2]}\n```', {}).value == 1.0
    assert S.valid_json(strip_fences=False)('```json\n{"a": 1}\n```', {}).value == 0.0
    bad = S.valid_json()('{"a": 1,}', {})
    assert bad.value == 0.0 and "invalid JSON" in bad.explanation and "line 1" in bad.explanation
    empty = S.valid_json()("", {})
    assert empty.value == 0.0 and "empty" in empty.explanation
    assert S.valid_json()('"ünïcödé ✓"', {}).value == 1.0


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"]}


def test_json_schema():
    scorer = S.json_schema(SCHEMA)
    assert scorer('{"name": "Zoë", "age": 3}', {}).value == 1.0
    missing = scorer('{"name": "Zoë"}', {})
    assert missing.value == 0.0 and "'age' is a required property" in missing.explanation
    wrong = scorer('{"name": "Zoë", "age": -1}', {})
    assert wrong.value == 0.0 and "age" in wrong.explanation
    assert "invalid JSON" in scorer("{name: Zoë}", {}).explanation
    assert scorer("", {}).value == 0.0


@pytest.mark.parametrize("schema", [{"type": "objekt"}, {"type": "object", "required": "name"},
                                    {"properties": {"a": {"minimum": "zero"}}}])
def test_invalid_schema_is_refused_at_construction(schema):
    with pytest.raises(wb.ScorerError, match="JSON schema .* is invalid") as err:
        S.json_schema(schema)
    assert "Fix" in str(err.value)


def test_length_and_word_count():
    assert S.length(max=5)("hello", {}).value == 1.0
    assert S.length(max=5)("hello!", {}).passed is False
    assert S.length(min=1)("", {}).value == 0.0
    assert "6 characters" in S.length(max=5)("héllo!", {}).explanation  # characters, not bytes
    assert S.word_count(min=2, max=3)("one two", {}).value == 1.0
    assert S.word_count(min=2, max=3)("one two three four", {}).value == 0.0
    assert S.word_count(max=0)("   ", {}).value == 1.0
    with pytest.raises(wb.ScorerError):
        S.length()
    with pytest.raises(wb.ScorerError, match="min is above max"):
        S.word_count(min=5, max=2)


def test_similarity():
    scorer = S.similarity(threshold=0.8)
    same = scorer("the cat sat", {"expected": "The cat sat"})
    assert same.value == 1.0 and same.passed
    reordered = scorer("sat the cat", {"expected": "the cat sat"})  # token_sort_ratio ignores order
    assert reordered.value == 1.0
    far = scorer("completely different", {"expected": "the cat sat"})
    assert far.value < 0.5 and far.passed is False
    assert scorer("", {"expected": "x"}).value == 0.0
    assert 0 < S.similarity(method="ratio")("kitten", {"expected": "sitting"}).value < 1
    with pytest.raises(wb.ScorerError):
        S.similarity(method="cosine")


@pytest.mark.parametrize("output, expected, options, value", [
    ("The answer is 42.", 42, {}, 1.0),
    ("It costs 1,234.50 dollars", "1234.5", {}, 1.0),
    ("−3 degrees", -3, {}, 1.0),  # unicode minus
    ("about 3.14", 3.14159, {"abs_tol": 0.01}, 1.0),
    ("about 3.14", 3.14159, {}, 0.0),
    ("105", 100, {"rel_tol": 0.1}, 1.0),
    ("no number here", 1, {}, 0.0),
    ("", 1, {}, 0.0),
])
def test_numeric(output, expected, options, value):
    assert S.numeric(**options)(output, {"expected": expected}).value == value


def test_numeric_reports_the_number_and_a_non_numeric_target():
    assert "found 41, expected 42" in S.numeric()("41", {"expected": 42}).explanation
    assert S.numeric()("41", {"expected": "forty"}).value is None


@pytest.mark.parametrize("output, expected, value", [
    ("Positive.", "positive", 1.0),
    ("The sentiment is NEGATIVE!", "negative", 1.0),
    ("positive", "negative", 0.0),
    ("Positive or negative?", "negative", 0.0),  # naming both labels is not a lucky hit
    ("Neutral", "negative", 0.0),
    ("", "positive", 0.0),
    ("good", "positive", 1.0),  # synonym
    ("Très positif", "positif", 1.0),
])
def test_label_match(output, expected, value):
    scorer = S.label_match(["positive", "negative", "neutral"], synonyms={"good": "positive", "bad": "negative"})
    assert scorer(output, {"expected": expected}).value == value


def test_label_match_explains_ambiguity_and_prefers_longer_labels():
    scorer = S.label_match(["positive", "very positive"])
    assert scorer("Very positive!", {"expected": "very positive"}).value == 1.0
    assert "ambiguous" in S.label_match(["yes", "no"])("yes and no", {"expected": "yes"}).explanation


@pytest.mark.parametrize("output, refused", [
    ("I'm sorry, but I can't help with that.", True),
    ("I’m afraid I cannot do that.", True),  # curly apostrophe
    ("As an AI, I must decline.", True),
    ("Sure! Here is the recipe.", False),
    ("I can help: step one...", False),
])
def test_refusal_scores_the_desired_behaviour(output, refused):
    assert S.refusal()(output, {}).value == (0.0 if refused else 1.0)
    assert S.refusal(should_refuse=True)(output, {}).value == (1.0 if refused else 0.0)
    assert S.refusal().name == "no_refusal" and S.refusal(should_refuse=True).name == "refusal"


def test_refusal_on_empty_output():
    assert S.refusal()("", {}).value == 1.0 and "empty" in S.refusal()("", {}).explanation


def test_custom_accepts_the_usual_return_types():
    def short(output):
        return len(output) < 5

    assert S.custom(short)("abc").value == 1.0 and S.custom(short).name == "short"
    assert S.custom(lambda o, case: (0.3, "why"), name="t")("x", {}) == Score(0.3, "why", None)
    assert S.custom(lambda o: 7)("x").value == 7.0
    assert S.custom(lambda o: Score(1.0, "ok", True))("x").passed is True
    assert S.custom(lambda o: None)("x").value is None
    assert S.custom(lambda o: float("nan"))("x").value is None
    with pytest.raises(wb.ScorerError, match="returned str"):
        S.custom(lambda o: "great")("x")
    with pytest.raises(wb.ScorerError):
        S.custom("not callable")  # type: ignore[arg-type]


def test_scorers_accept_none_as_empty_output():
    assert S.contains("a")(None, {}).value == 0.0  # type: ignore[arg-type]


# --- LLM judge -----------------------------------------------------------------------
def test_judge_prompt_is_visible_editable_and_checked():
    judge = S.llm_judge("Is it polite?", model="local:smollm2")
    assert isinstance(judge.prompt, wb.Prompt) and "{rubric}" in judge.prompt.user
    assert {"output", "rubric"} <= judge.prompt.variables
    judge.prompt = judge.prompt.with_(system="Be lenient.")
    request = judge.request("Hello there", {"expected": "x"})
    assert request.messages[0]["content"] == "Be lenient." and "Hello there" in request.messages[-1]["content"]
    assert request.params.temperature == 0
    with pytest.raises(wb.ScorerError, match="may use only"):
        S.llm_judge("x", model="local:smollm2", prompt=wb.Prompt(user="{output} {mood}"))
    with pytest.raises(wb.ScorerError, match="needs a rubric"):
        S.llm_judge("  ")
    with pytest.raises(wb.ParamsError):
        S.llm_judge("x", params={"temperature": 5})


@pytest.mark.parametrize("answer, value", [
    ("SCORE: 5\nPerfect.", 1.0),
    ("Score: 3 - fine", 0.5),
    ("**Score:** 4/5 good", 0.75),
    ("1", 0.0),
    ("score=2.5 meh", 0.375),
])
def test_judge_parses_scores_onto_0_1(answer, value):
    score = S.llm_judge("x", model="local:smollm2").parse(answer)
    assert score.value == pytest.approx(value)
    assert score.passed is (value >= 0.5)


@pytest.mark.parametrize("answer, reason", [
    ("I think it is quite good", "no score"),
    ("", "no score"),
    ("SCORE: 9", "outside 1-5"),
])
def test_judge_parse_failures_are_reported_not_hidden(answer, reason):
    score = S.llm_judge("x", model="local:smollm2").parse(answer)
    assert score.value is None and reason in score.explanation and score.passed is None


def test_judge_with_custom_scale():
    judge = S.llm_judge("x", model="local:smollm2", scale=(0, 10), pass_threshold=0.7)
    assert judge.parse("SCORE: 7").value == pytest.approx(0.7) and judge.parse("SCORE: 7").passed
    assert "from 0 (worst) to 10 (best)" in judge.request("o", {}).messages[-1]["content"]
    with pytest.raises(wb.ScorerError):
        S.llm_judge("x", scale=(5, 1))



# --- the one scoring protocol (workbench._scoring) -------------------------------------------


@pytest.mark.parametrize("result, value, passed", [
    (np.float64(0.25), 0.25, None),
    (np.float32(0.5), 0.5, None),
    (np.int64(3), 3.0, None),
    (np.bool_(True), 1.0, True),
    (np.bool_(False), 0.0, False),
    (True, 1.0, True),
    (0, 0.0, None),
    (float("nan"), None, None),
    (np.float64("nan"), None, None),
    (None, None, None),
    ((0.75, "three quarters"), 0.75, None),
    ((np.float64(0.5), "half", np.bool_(True)), 0.5, True),
    ((True, "looks right"), 1.0, True),
    ((True, "contradiction: the third item wins", False), 1.0, False),
    ((float("nan"), "could not tell"), None, None),
    (Score(np.float64(0.5), "numpy inside a Score", np.bool_(False)), 0.5, False),
    (Score(float("nan"), "nan inside a Score"), None, None),
])
def test_to_score_accepts_each_result_type(result, value, passed):
    from workbench._scoring import to_score

    score = to_score(result, "mine")
    assert score.value == value and score.passed is passed
    assert score.value is None or type(score.value) is float  # no NumPy scalar leaks into results
    assert isinstance(score.explanation, str) and score.explanation
    if isinstance(result, tuple):
        assert score.explanation == result[1]


@pytest.mark.parametrize("result, match", [
    ("0.9", r"'mine' returned str \('0.9'\)"),
    (["0.9", "why"], r"'mine' returned list"),
    (("high", "why"), r"'mine' gave str \('high'\) as its value"),
    ((0.5, "why", "yes"), r"'mine' gave passed=str"),
    ((1, 2, 3, 4), r"'mine' returned tuple"),
    (Score("high", "why"), r"'mine' gave str"),  # type: ignore[arg-type]
])
def test_to_score_refuses_other_results_naming_the_scorer(result, match):
    from workbench._scoring import to_score

    with pytest.raises(wb.ScorerError, match=match) as info:
        to_score(result, "mine")
    assert "Fix:" in str(info.value)


def test_an_infinite_value_is_not_scored_and_says_why():
    from workbench._scoring import to_score

    score = to_score((float("inf"), "divided by zero"), "mine")
    assert score.value is None and "divided by zero" in score.explanation and "not finite" in score.explanation
    assert to_score(-np.inf, "mine").value is None


def test_a_scorer_returning_a_string_names_itself_wherever_it_runs():
    def verdict(output, case):
        return "great"

    with pytest.raises(wb.ScorerError, match="'verdict' returned str"):
        S.custom(verdict)("x", {})
    from workbench._scoring import ascore, score

    with pytest.raises(wb.ScorerError, match="'verdict' returned str"):
        score(verdict, "x")
    with pytest.raises(wb.ScorerError, match="'verdict' returned str"):
        run_sync(ascore(verdict, "x"))


def test_custom_accepts_an_async_function():
    import asyncio

    async def slow_len(output, case):
        await asyncio.sleep(0)
        return np.float64(len(output) / 10), f"{len(output)} characters"

    scorer = S.custom(slow_len)
    assert scorer.is_async and scorer.name == "slow_len"
    assert scorer("abcde", {}) == Score(0.5, "5 characters", None)  # called plainly: runs in the portal
    assert run_sync(scorer.ascore("ab")) == Score(0.2, "2 characters", None)

    async def one_argument(output):
        return output == "yes"

    assert S.custom(one_argument)("yes").passed is True


def test_score_and_ascore_handle_plain_async_and_judge_scorers():
    from workbench import testing
    from workbench._scoring import ascore, is_async_scorer, score

    async def async_fn(output, case):
        return output.startswith(case["start"])

    def plain_fn(output, case):
        return 0.5

    judge_model = testing.script("judge-proto", ["SCORE: 4\nclear enough"])
    judge = S.llm_judge("Is it clear?", model=judge_model, scale=(1, 5))
    assert [is_async_scorer(s) for s in (async_fn, plain_fn, judge, S.contains("a"), S.custom(async_fn))] == [
        True, False, True, False, True]
    assert score(async_fn, "abc", {"start": "a"}).passed is True
    assert score(plain_fn, "abc").value == 0.5
    judged = score(judge, "an answer", {})
    assert judged.value == pytest.approx(0.75) and "clear enough" in judged.explanation
    assert run_sync(ascore(S.contains("b"), "abc")).passed is True


def test_ascore_runs_plain_scorers_off_the_loop_so_they_may_call_a_model():
    """A plain scorer that calls wb.complete works from the portal's loop (a worker thread runs it)."""
    from workbench import testing
    from workbench._scoring import ascore

    model = testing.script("grader-proto", ["yes"])

    def asks_a_model(output, case):
        return wb.complete(model, f"Is {output!r} fine?", cache=False).text == "yes"

    got = run_sync(ascore(asks_a_model, "hello"))
    assert got.passed is True
    assert testing.calls("grader-proto")[0].messages[-1]["content"] == "Is 'hello' fine?"
