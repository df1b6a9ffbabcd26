"""Skill exercises: each starter fails, each reference passes, and each failure reason is reported.

The grading is deterministic and calls no model, so these tests run everywhere
and fast. Wrong submissions are written here, one per requirement, so that each
requirement's check is seen to fail.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench import exercises as E
from workbench._skills import SkillExercise, SkillResult, price_a, price_b
from workbench._stats import cohen_kappa

SKILLS = ["04-held-out-split", "04-one-change", "04-separating-tests", "04-write-scorer", "11-calibrate-judge",
          "12-cache-friendly-prompt"]
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def grade(exercise_id: str, submission) -> SkillResult:
    result = E.check(exercise_id, submission)
    assert isinstance(result, SkillResult)
    return result


def failed(result: SkillResult) -> dict[str, str]:
    return {f.label: f.detail for f in result.failures}


# --- the registry and the two kinds --------------------------------------------------------------
def test_skill_exercises_are_registered_beside_the_prompt_exercises():
    assert E.ids(kind="skill") == SKILLS
    assert set(E.ids(kind="prompt")).isdisjoint(SKILLS) and E.ids(kind="prompt")
    assert sorted(E.ids(kind="prompt") + E.ids(kind="skill")) == E.ids()
    assert E.ids("11") == ["11-calibrate-judge"]
    catalog = E.catalog()
    assert set(catalog.loc[SKILLS, "kind"]) == {"skill"} and set(catalog.drop(index=SKILLS)["kind"]) == {"prompt"}
    assert catalog.loc["04-write-scorer", "cases"] == 20
    assert catalog.loc["11-calibrate-judge", "pass at"] == "kappa >= 0.6"
    with pytest.raises(E.ExerciseError, match="'prompt' or 'skill'"):
        E.ids(kind="skills")


@pytest.mark.parametrize("exercise_id", SKILLS)
def test_each_exercise_is_wellformed_and_displays_its_task(exercise_id):
    ex = E.get(exercise_id)
    assert isinstance(ex, SkillExercise) and ex.id.startswith(ex.notebook + "-")
    assert len(ex.hints) >= 2 and ex.task and ex.how and ex.explanation and ex.submit
    text, page = repr(ex), ex._repr_html_()
    assert f"Exercise {exercise_id} (skill)" in text and "Pass mark:" in text and ex.pass_mark in text
    assert "<h4>" in page and "Submit:" in page
    if ex.rows:
        assert len(ex.frame()) == ex.size and "<table>" in page
    assert E.hint(exercise_id, 1).text == ex.hints[0] and f"Hint 2/{len(ex.hints)}" in repr(E.hint(exercise_id, 2))


@pytest.mark.parametrize("exercise_id", SKILLS)
def test_starter_fails_and_reference_passes(exercise_id):
    starter, reference = E.starter(exercise_id), E.solution(exercise_id)
    naive = grade(exercise_id, starter.submission())
    good = grade(exercise_id, reference.submission())
    assert not naive.passed, repr(naive)
    assert good.passed, repr(good)
    assert naive.failures and "NOT YET" in repr(naive) and f"wb.exercises.hint({exercise_id!r})" in repr(naive)
    assert repr(good).startswith("PASSED") and "PASSED" in good._repr_html_() and "NOT YET" in naive._repr_html_()
    assert list(naive.to_frame().columns) == ["item", "passed", "why", "note"]
    # the code shown is the code graded, and it ends with the check
    assert starter.code().startswith(starter.source.rstrip()) and starter.code().endswith(
        f'wb.exercises.check("{exercise_id}", {E.get(exercise_id).submit_as})')
    assert "Why it works" in repr(reference) and "<pre>" in reference._repr_html_()
    assert reference.explanation and not starter.explanation


def test_skill_exercises_take_no_model_or_parameters():
    scorer = E.solution("04-write-scorer").submission()
    with pytest.raises(wb.ParamsError, match="takes no model, temperature"):
        E.check("04-write-scorer", scorer, "local:smollm2", temperature=0)
    with pytest.raises(E.ExerciseError, match="without calling it"):
        E.check("04-write-scorer", scorer("Canberra", {"expected": "Canberra", "cities": ()}))


def test_the_skills_module_imports_no_widgets_and_not_the_registry():
    import ast
    import inspect

    import workbench._skills as skills

    tree = ast.parse(inspect.getsource(skills))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert imported <= {"_errors", "_grader", "_params", "_prompt", "_scoring", "_stats"}, imported


def test_acheck_grades_from_async_code():
    result = asyncio.run(E.acheck("04-write-scorer", E.solution("04-write-scorer").submission()))
    assert result.passed


# --- 1. a scorer that agrees with people ------------------------------------------------------------
def test_scorer_feedback_lists_every_disagreement_with_what_makes_it_tricky():
    result = grade("04-write-scorer", E.starter("04-write-scorer").submission())
    assert result.score == pytest.approx(11 / 20) and "11/20 answers = 55%" in repr(result)
    bad = failed(result)
    assert "your scorer says pass, the person says fail" in bad["'It is not Canberra, it is Sydney.'"]
    assert "your scorer says fail" in bad["'Brasilia'"] and "'Limassol'" in bad
    notes = {f.label: f.note for f in result.failures}
    assert notes["'Limassol'"] == "the right name inside another word"
    assert "person \\ your scorer" in repr(result)  # the confusion table


def test_scorer_reference_misses_exactly_the_misconception_and_still_passes():
    result = grade("04-write-scorer", E.solution("04-write-scorer").submission())
    assert result.score == pytest.approx(19 / 20)
    assert [f.label for f in result.failures] == ["'Ottawa (many people think it is Toronto).'"]
    assert "Still failing" in repr(result)


def test_scorer_goes_through_the_scoring_protocol():
    reference = E.solution("04-write-scorer").submission()

    async def async_scorer(output, case):
        await asyncio.sleep(0)
        return reference(output, case)

    assert grade("04-write-scorer", async_scorer).passed
    assert grade("04-write-scorer", wb.scorers.custom(reference, name="mine")).passed
    almost = grade("04-write-scorer", lambda out, case: case["expected"].casefold() in out.casefold())
    assert not almost.passed and almost.score < 0.9
    with pytest.raises(wb.ScorerError, match="returned str"):
        E.check("04-write-scorer", lambda out, case: "yes")


# --- 2. a held-out split -----------------------------------------------------------------------------
def _reference_split():
    return E.solution("04-held-out-split").submission()


def test_split_starter_leaks_customers_and_says_which():
    result = grade("04-held-out-split", E.starter("04-held-out-split").submission())
    bad = failed(result)
    leak, labels = (why for label, why in bad.items() if label.startswith(("no customer", "every label")))
    assert len(bad) == 2 and "seed 0: 7 customer(s) on both sides" in leak and "ticket(s) in train and" in leak
    assert labels == "seed 4: no account ticket in test"  # a row sample can also miss the rare label


@pytest.mark.parametrize("wrong, requirement, words", [
    (lambda df, seed: (df, df.iloc[:10]), "no ticket in both", "in both train and test"),
    (lambda df, seed: (df.iloc[:20], df.iloc[25:34]), "every ticket in train or test", "in neither"),
    (lambda df, seed: (df.iloc[5:], df.iloc[:5]), "test holds 20%", "5/40 rows = 12%"),
    (lambda df, seed: (df[~df.label.eq("account")], df[df.label.eq("account")]), "every label on both", "no "),
    (lambda df, seed: (df[~df.customer.isin(["C01", "C05", "C11", "C16", "C02"])],
                       df[df.customer.isin(["C01", "C05", "C11", "C16", "C02"])]), "another seed", "not used"),
    (lambda df, seed: _reference_split()(df, int(np.random.default_rng().integers(1000))), "the same seed",
     "two different test sets"),
])
def test_split_each_requirement_can_fail(wrong, requirement, words):
    result = grade("04-held-out-split", wrong)
    bad = {label: why for label, why in failed(result).items() if label.startswith(requirement)}
    assert bad and words in next(iter(bad.values())), repr(result)
    assert not result.passed


def test_split_that_changes_its_frame_or_returns_the_wrong_thing():
    reference = _reference_split()

    def changes(df, seed):
        train, test = reference(df, seed)
        df["label"] = "refund"
        return train, test

    assert "changed the frame" in failed(grade("04-held-out-split", changes))["df is left as it was"]
    with pytest.raises(E.ExerciseError, match="pair of DataFrames"):
        E.check("04-held-out-split", lambda df, seed: [df, df])


def test_split_with_no_label_column_kept_is_a_label_failure():
    result = grade("04-held-out-split",
                   lambda df, seed: tuple(p.drop(columns="label") for p in reference_pair(df, seed)))
    assert "every label on both sides" in failed(result)


def reference_pair(df, seed):
    return _reference_split()(df, seed)


# --- 3. one change at a time ------------------------------------------------------------------------
def _baseline():
    """The exercise's baseline: (prompt, params)."""
    ex = E.get("04-one-change")
    return ex.build(ex.given["baseline_source"] + "\nvariant = baseline\n")[0]


def test_one_change_names_every_difference_of_the_starter():
    result = grade("04-one-change", E.starter("04-one-change").submission())
    labels = [f.label for f in result.failures]
    assert labels == ["system message", "examples", "parameter temperature", "one change"]
    bad = failed(result)
    assert bad["parameter temperature"] == "0.7 -> 0.0" and bad["examples"].startswith("0 -> 2 examples")
    assert "3 things differ" in bad["one change"] and "3 things differ" in repr(result)


def test_one_change_accepts_one_difference_of_any_kind():
    prompt, params = _baseline()
    for variant in ((prompt.with_(user="Text: {message}"), params), (prompt, {**params, "temperature": 0}),
                    (prompt.with_(system=None), params)):
        result = grade("04-one-change", ((prompt, params), variant))
        assert result.passed, repr(result)
        assert "wb.compare" in repr(result)


def test_one_change_refuses_no_change_different_variables_and_a_parameter_dropped():
    prompt, params = _baseline()
    assert "nothing to measure" in failed(grade("04-one-change", ((prompt, params), (prompt, dict(params)))))[
        "one change"]
    renamed = grade("04-one-change", ((prompt, params), (prompt.with_(user="Message: {text}"), params)))
    assert "cannot run on the same cases" in failed(renamed)["same variables"] and not renamed.passed
    dropped = grade("04-one-change", ((prompt, params), prompt))
    assert failed(dropped)["parameter max_tokens"] == "12 -> unset"
    spaces = grade("04-one-change", ((prompt, params), (prompt.with_(system=prompt.system + "  "), params)))
    assert spaces.passed and "only spaces" in spaces.findings[0].detail
    with pytest.raises(E.ExerciseError, match=r"a pair \(baseline, variant\)"):
        E.check("04-one-change", prompt)
    with pytest.raises(wb.ParamsError, match="variant's parameters"):
        E.check("04-one-change", ((prompt, params), (prompt, {"temprature": 0})))


# --- 4. a test set that separates two versions ------------------------------------------------------
def test_the_two_versions_differ_only_when_a_number_comes_before_the_price():
    assert price_a("The lamp costs 49 euros.") == price_b("The lamp costs 49 euros.") == "49"
    assert price_a("3 chairs for 49 euros.") == "3" and price_b("3 chairs for 49 euros.") == "49"
    assert price_b("Room 12 costs $30 a night.") == "30" and price_b("no price") == ""
    assert E.get("04-separating-tests").given["A"] is price_a


def test_easy_cases_cannot_separate_the_versions():
    result = grade("04-separating-tests", E.starter("04-separating-tests").submission())
    assert result.score == 0 and "p = 1" in repr(result)
    assert all("both right: it cannot tell them apart" in why for why in failed(result).values())
    assert "at least 6 such cases" in repr(result)


def test_too_few_separating_cases_are_not_enough_and_duplicates_count_once():
    five = [{"message": f"{n} chairs for {10 * n + 5} euros.", "expected": str(10 * n + 5)} for n in range(2, 7)]
    few = grade("04-separating-tests", five)
    assert not few.passed and "p = 0.0625" in repr(few)
    padded = grade("04-separating-tests", five + five)  # the same five again: no new evidence
    assert not padded.passed and "5 repeated message(s) counted once" in repr(padded)
    six = grade("04-separating-tests", [*five, {"message": "Order 88 cost 19 EUR.", "expected": "19"}])
    assert six.passed and "p = 0.0312" in repr(six)


def test_wrong_expected_values_are_named_and_a_win_for_a_does_not_pass():
    first_numbers = [{"message": f"{n} chairs for {10 * n + 5} euros.", "expected": str(n)} for n in range(2, 10)]
    result = grade("04-separating-tests", first_numbers)
    assert not result.passed and result.score < 0 and "check the expected values" in repr(result)
    wrong = grade("04-separating-tests", [{"message": "It costs 49 euros.", "expected": "50"}])
    assert "neither finds the expected price" in next(iter(failed(wrong).values()))


def test_a_dataframe_is_a_test_set_and_malformed_ones_are_refused_with_the_fix():
    import pandas as pd

    cases = E.solution("04-separating-tests").submission()
    assert grade("04-separating-tests", pd.DataFrame(cases)).passed
    with pytest.raises(wb.CasesError, match="'message' and 'expected'"):
        E.check("04-separating-tests", [{"text": "x", "expected": "1"}])
    with pytest.raises(wb.CasesError, match="holds no number"):
        E.check("04-separating-tests", [{"message": "x 1 euro", "expected": "one"}])
    with pytest.raises(wb.CasesError, match="non-empty list"):
        E.check("04-separating-tests", [])


# --- 5. calibrating a judge -------------------------------------------------------------------------
def test_judge_starter_has_a_low_kappa_and_the_table_shows_why():
    result = grade("11-calibrate-judge", E.starter("11-calibrate-judge").submission())
    human = [r["human"] for r in E.get("11-calibrate-judge").rows]
    says = [("please" in r["rewrite"].lower()) for r in E.get("11-calibrate-judge").rows]
    assert result.score == pytest.approx(cohen_kappa(human, says)) and result.score < 0.6
    text = repr(result)
    assert "kappa = 0.21" in text and "95% CI" in text and "person \\ your judge" in text
    said = " ".join(failed(result).values())
    assert "your judge says good, the person says bad: adds a fact (a shipping charge)" in said


def test_judge_reference_passes_with_a_wide_interval_and_one_miss():
    result = grade("11-calibrate-judge", E.solution("11-calibrate-judge").submission())
    assert result.score == pytest.approx(0.898, abs=0.001)
    assert [f.note for f in result.failures] == ["adds a fact (a cracked case)"]
    low, high = (float(x) for x in repr(result).split("95% CI ")[1].split(")")[0].split(" to "))
    assert low < 0.8 < result.score <= high <= 1.0


def test_a_judge_just_under_the_bar_and_one_without_verdicts_fail():
    ns: dict = {}
    exec(E.solution("11-calibrate-judge").source, ns)  # the reference's own list of rude markers

    def rude_only(output, case):
        return not any(w in output.casefold() for w in ns["RUDE"])

    almost = grade("11-calibrate-judge", rude_only)
    assert 0.4 < almost.score < 0.6 and not almost.passed  # tone alone: misses dropped and added facts
    silent = grade("11-calibrate-judge", lambda out, case: None)
    assert not silent.passed and "no verdict" in repr(silent)


# --- 6. a prompt a cache can reuse ---------------------------------------------------------------------
def _cache_parts():
    given = E.get("12-cache-friendly-prompt").given
    return given["instructions"], given["examples"]


def test_cache_starter_shares_a_few_tokens_and_says_where_the_cases_part():
    result = grade("12-cache-friendly-prompt", E.starter("12-cache-friendly-prompt").submission())
    assert list(failed(result)) == ["shared prefix >= 80%"] and result.score < 0.05
    text = repr(result)
    assert "case 1 and case 2 first differ at token 8 of about" in text and "in the system message" in text
    assert "' My chain snapped" in text and "' Can I return a used chain?" in text


def test_cache_reference_shares_nearly_all_and_differs_only_in_the_user_message():
    result = grade("12-cache-friendly-prompt", E.solution("12-cache-friendly-prompt").submission())
    assert result.passed and result.score > 0.9 and not result.failures
    assert "in the user message (8 characters into it)" in repr(result)


def test_cache_the_message_between_instructions_and_examples_is_named():
    instructions, examples = _cache_parts()
    middle = wb.Prompt(system=instructions + "\n\nMessage: {text}", examples=examples, user="Which team?")
    result = grade("12-cache-friendly-prompt", middle)
    assert "in the system message (9" in repr(result) and "characters into it" in repr(result)
    assert result.score == pytest.approx(result.score) and 0.5 < result.score < 0.95


@pytest.mark.parametrize("make, requirement, words", [
    (lambda i, e: wb.Prompt(system=i, examples=e, user="Route the message."), "uses {text}", "uses no variable"),
    (lambda i, e: wb.Prompt(system=i, examples=e, user="{name}: {text}"), "uses {text}", "uses {name}, {text}"),
    (lambda i, e: wb.Prompt(system="Route the message to a team.", examples=e, user="Message: {text}"),
     "keeps the instructions", "word for word"),
    (lambda i, e: wb.Prompt(system=i, examples=e[:2], user="Message: {text}"), "keeps the examples",
     "example 3 missing"),
    (lambda i, e: wb.Prompt(system="Please read carefully. " * 20 + i, examples=e, user="Message: {text}"),
     "at most 40 tokens of your own", "padding"),
    (lambda i, e: wb.Prompt(system="Message: {text}\n\n" + i, examples=e, user="Which team?"),
     "shared prefix >= 80%", "5 tokens shared by all 10 cases"),
])
def test_cache_each_requirement_can_fail(make, requirement, words):
    result = grade("12-cache-friendly-prompt", make(*_cache_parts()))
    assert not result.passed and words in failed(result)[requirement], repr(result)


def test_cache_tokens_cover_the_text_and_a_playground_is_graded_too():
    from workbench._skills import approx_tokens

    text = "<|im_start|>user\nIt's 12 km_h... ok?<|im_end|>\n"
    pieces = approx_tokens(text)
    assert "".join(pieces) == text and pieces[0] == "<|im_start|>" and "<|im_end|>" in pieces
    assert pieces[pieces.index(" 1"):pieces.index(" 1") + 2] == [" 1", "2"]  # digits one by one
    reference = E.solution("12-cache-friendly-prompt").submission()
    assert grade("12-cache-friendly-prompt", wb.Playground(reference, model="local:smollm2")).passed
    with pytest.raises(E.ExerciseError, match="grades a wb.Prompt"):
        E.check("12-cache-friendly-prompt", 42)


# --- the notebooks show the starters ------------------------------------------------------------------
@pytest.mark.parametrize("exercise_id", SKILLS)
def test_the_notebook_cell_is_the_starter(exercise_id):
    notebook = next(NOTEBOOKS.glob(f"{exercise_id[:2]}_*.ipynb"))
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]]
    call = f'result = wb.exercises.check("{exercise_id}", {E.get(exercise_id).submit_as})'
    assert any(E.starter(exercise_id).source in cell and call in cell for cell in cells), \
        f"{notebook.name} lacks the starter of {exercise_id}"
