"""The course's graded exercises: the grader's logic on a scripted provider, and every exercise on SmolLM2.

The local-model tests are the calibration of the course: for each exercise the
naive starter prompt (what the notebook starts from) must fail and the hidden
reference solution must pass, on the offline model, as the notebooks claim.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

import workbench as wb
from workbench import exercises as E
from workbench._params import Params
from workbench._types import Completion, Delta, Usage
from workbench.providers import get_provider, register_provider
from workbench.providers._base import Provider

# --- a scripted provider: answers computed from the last user message and the seed ----------


class Scripted(Provider):
    name = "scripted"
    default_concurrency = 4

    def __init__(self, answer) -> None:
        self.answer = answer  # (user_text, seed, index) -> text
        self.calls: list[dict[str, Any]] = []

    def accepts_any_model(self) -> bool:
        return True

    def map_params(self, params: Params) -> dict[str, Any]:
        return params.set()

    async def complete(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                       *, timeout: float | None = None) -> Completion:
        self.calls.append({"messages": list(messages), **params.set()})
        seed = params.seed or 0
        choices = [self.answer(messages[-1]["content"], seed, i) for i in range(params.n)]
        return Completion(choices, "stop", Usage(len(str(messages)) // 4, 3), {"model": model, **params.set()})

    async def stream(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                     *, timeout: float | None = None) -> AsyncIterator[Delta | Completion]:
        final = await self.complete(model, messages, params)
        yield Delta(final.choices[0])
        yield final


@pytest.fixture
def scripted(fresh_providers):
    """Install a scripted provider; ``scripted.answer = fn`` sets how it answers."""
    holder = Scripted(lambda text, seed, i: "")
    register_provider("scripted", lambda: holder)
    return holder


NUMBERS = E.Exercise(
    id="99-number",
    title="Digits only",
    notebook="99",
    task="Answer with the number in `{text}`.",
    variables=("text",),
    cases=(E.ExerciseCase({"text": "I want 3 pears"}, "3", id="pears"),
           E.ExerciseCase({"text": "Send 12 boxes"}, "12", id="boxes")),
    checks=(E.answer_equals(),),
    params={"temperature": 0.7, "max_tokens": 8},
    runs=2,
    threshold=0.75,
    starter=wb.Prompt(user="How many? {text}"),
    solution=wb.Prompt(system="Digits only.", user="Text: {text}"),
    solution_params={"temperature": 0},
    hints=("first", "second"),
)


def _digits(text: str) -> str:
    return re.search(r"\d+", text).group(0)


# --- the registry ------------------------------------------------------------------------

def test_every_course_notebook_has_at_least_two_wellformed_exercises():
    by_notebook: dict[str, list[str]] = {}
    for exercise_id in E.ids(kind="prompt"):  # (skill exercises: tests/test_skill_exercises.py)
        ex = E.get(exercise_id)
        by_notebook.setdefault(ex.notebook, []).append(ex.id)
        assert ex.id.startswith(ex.notebook + "-")
        assert len(ex.hints) >= 2 and ex.task and ex.how and ex.explanation
        for prompt in (ex.starter, ex.solution):
            assert prompt.variables == set(ex.variables), ex.id
        for params in (ex.solution_params, ex.starter_params):
            # tools and response_format go to the call beside the parameters (lesson 09's exercises)
            Params.build({**ex.params, **{k: v for k, v in params.items() if k not in ("tools", "response_format")}})
            assert not (set(params) & ex.fixed - {"n"}), f"{ex.id} solution changes a fixed parameter"
        assert ex.starter.hash != ex.solution.hash or ex.starter_params != ex.solution_params
    # lessons 01-09: at least two prompt exercises each; 10-12: at least one graded exercise of either kind
    assert sorted(by_notebook) == [f"{i:02d}" for i in range(1, 11)]
    assert all(len(by_notebook[f"0{i}"]) >= 2 for i in range(1, 10)), by_notebook
    assert {E.get(i).notebook for i in E.ids()} == {f"{i:02d}" for i in range(1, 13)}
    assert list(E.catalog().index) == E.ids()


def test_unknown_id_suggests_the_closest():
    with pytest.raises(E.ExerciseError, match=r"Did you mean '01-extract-name'"):
        E.get("01-extract-nam")
    with pytest.raises(E.ExerciseError, match="no exercise"):
        E.check("nope", "x {text}")


def test_malformed_exercise_is_refused_with_every_problem():
    with pytest.raises(E.ExerciseError, match="id must look like.*no checks.*threshold"):
        E.Exercise(id="bad id", title="t", notebook="01", task="t", variables=("text",),
                   cases=(E.ExerciseCase({"text": "x"}),), checks=(), threshold=2, solution=wb.Prompt(user="{text}"),
                   starter=wb.Prompt(user="{text}"))
    with pytest.raises(E.ExerciseError, match="has variables"):
        E.Exercise(id="99-x", title="t", notebook="99", task="t", variables=("text",),
                   cases=(E.ExerciseCase({"other": "x"}),), checks=(E.answer_equals(),),
                   solution=wb.Prompt(user="{text}"), starter=wb.Prompt(user="{text}"))


def test_hints_come_one_at_a_time_then_stay_on_the_last(monkeypatch):
    monkeypatch.setattr(E, "_hints_shown", {})  # a fresh session: no hint shown yet
    first = E.hint("03-list-items")
    second = E.hint("03-list-items")
    assert (first.number, second.number) == (1, 2) and first.text != second.text
    assert E.hint("03-list-items", 1).text == first.text
    last = E.hint("03-list-items", len(E.get("03-list-items").hints))
    assert "next:" not in repr(last) and "next:" in repr(first)
    assert "<b>Hint 1/" in first._repr_html_()
    with pytest.raises(E.ExerciseError, match="hints 1 to"):
        E.hint("03-list-items", 99)


def test_solution_code_rebuilds_the_reference_exactly():
    for exercise_id in E.ids(kind="prompt"):
        sol = E.solution(exercise_id)
        captured = {}
        fake_wb = SimpleNamespace(Prompt=wb.Prompt, exercises=SimpleNamespace(
            check=lambda i, p, model=None, **kw: captured.update(  # noqa: B023 - exec calls it on the next line
                id=i, prompt=p, model=model, params=kw)))
        exec(sol.code(), {"wb": fake_wb, "MODEL": "local:smollm2"})  # our own generated code
        assert captured["id"] == exercise_id and captured["model"] == "local:smollm2"
        assert captured["prompt"] == E.get(exercise_id).solution
        assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in captured["params"].items()} == \
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in sol.params.items()}
        assert "Why it works" in repr(sol) and "<pre>" in sol._repr_html_()


def test_exercise_displays_its_task_and_cases():
    ex = E.get("01-quantity")
    text, page = repr(ex), ex._repr_html_()
    assert "Exercise 01-quantity" in text and "{text}" in text and "I ordered 3 chairs" in text
    assert "<table>" in page and "pass at 60%" in page and "<code>{text}</code>" in page
    assert "temperature=0.8" in page and "(fixed: seed, temperature)" in page and "5 runs" in text


# --- grading on the scripted provider -----------------------------------------------------

def test_check_grades_every_case_and_run_with_reproducible_seeds(scripted, runner):
    scripted.answer = lambda text, seed, i: _digits(text) if seed == 0 else f"It is {_digits(text)}."
    result = E.check(NUMBERS, wb.Prompt(user="Q: {text}"), "scripted:m", runner=runner)
    assert [c["seed"] for c in scripted.calls if c["messages"][-1]["content"] == "Q: I want 3 pears"] \
        in ([0, E.SEED_STEP], [E.SEED_STEP, 0])
    assert len(result.attempts) == 4 and result.pass_rate == 0.5 and not result.passed
    assert result.case_rates() == {"pears": 0.5, "boxes": 0.5}
    assert [a.run for a in result.failures] == [1, 1]
    assert "contains '3' but also other words" in result.failures[0].explanation
    text = repr(result)
    assert text.startswith("NOT YET: 99-number") and "2/4 answers passed = 50%" in text
    assert "pears: contains '3'" in text and "wb.exercises.hint('99-number')" in text
    html = result._repr_html_()
    assert "NOT YET" in html and "pears" in html and "It is 3." in html
    frame = result.to_frame()
    assert list(frame["passed"]) == [True, False, True, False] and set(frame["case"]) == {"pears", "boxes"}

    scripted.calls.clear()
    again = E.check(NUMBERS, wb.Prompt(user="Q: {text}"), "scripted:m", runner=runner)
    assert not scripted.calls and all(a.response.cached for a in again.attempts)  # answered from the log
    assert again.pass_rate == result.pass_rate
    rows = runner.run_log.calls()
    assert len(rows) == 8


def test_check_passes_at_the_threshold_and_says_so(scripted, runner):
    scripted.answer = lambda text, seed, i: _digits(text)
    result = E.check(NUMBERS, "Q: {text}", "scripted:m", runner=runner, temperature=0)
    assert result.passed and result.pass_rate == 1.0 and result.params["temperature"] == 0
    assert repr(result).startswith("PASSED: 99-number") and "PASSED" in result._repr_html_()
    assert scripted.calls[0]["max_tokens"] == 8  # the exercise's default, kept


def test_prompt_and_parameter_mistakes_are_reported_before_any_call(scripted, runner):
    with pytest.raises(wb.PromptError, match=r"does not use \{text\}"):
        E.check(NUMBERS, "How many?", "scripted:m", runner=runner)
    with pytest.raises(wb.PromptError, match=r"uses \{txt\}.*only fills \{text\}"):
        E.check(NUMBERS, "{text} {txt}", "scripted:m", runner=runner)
    with pytest.raises(wb.ParamsError, match="temprature.*Did you mean 'temperature'"):
        E.check(NUMBERS, "{text}", "scripted:m", runner=runner, temprature=0)
    with pytest.raises(wb.ParamsError, match="temperature"):
        E.check(NUMBERS, "{text}", "scripted:m", runner=runner, temperature=5)
    with pytest.raises(wb.ParamsError, match="grades one answer per call"):
        E.check(NUMBERS, "{text}", "scripted:m", runner=runner, n=3)
    with pytest.raises(wb.ParamsError, match="fixes max_tokens=8"):
        E.check("07-short-prompt", "{text}", "scripted:m", runner=runner, max_tokens=20)
    with pytest.raises(wb.ParamsError, match="runs=0"):
        E.check(NUMBERS, "{text}", "scripted:m", runner=runner, runs=0)
    assert scripted.calls == []


def test_agree_mode_fails_answers_that_differ_between_runs(scripted, runner):
    ex = E.get("02-same-answer")
    scripted.answer = lambda text, seed, i: f"slogan {seed}"
    varied = E.check(ex, ex.starter, "scripted:m", runner=runner)
    assert varied.pass_rate == 0 and "gave 3 different answers" in varied.failures[0].explanation
    fixed = E.check(ex, ex.starter, "scripted:m", runner=runner, seed=42)
    assert fixed.passed and {a.output for a in fixed.attempts} == {"slogan 42"}


SAMPLED = E.Exercise(
    id="99-sampled", title="Digits, robustly", notebook="99", task="Answer with the number in `{text}`.",
    variables=("text",), cases=NUMBERS.cases, checks=(E.answer_equals(),),
    params={"temperature": 0.8, "max_tokens": 8}, runs=5, sampled=True, threshold=0.6,
    starter=wb.Prompt(user="How many? {text}"), solution=wb.Prompt(system="Digits only.", user="Text: {text}"),
)


def test_a_sampled_exercise_samples_at_its_temperature_with_the_graders_seeds_and_says_so(scripted, runner):
    """Issue 17: temperature 0 or one seed made every sample the same answer; the grader reports and replaces them."""
    scripted.answer = lambda text, seed, i: _digits(text) if seed % 2000 == 0 else "no idea"
    result = E.check(SAMPLED, "Q: {text}", "scripted:m", runner=runner, temperature=0, seed=7, stop=["\n"])
    assert sorted({c["seed"] for c in scripted.calls}) == [0, 1000, 2000, 3000, 4000]
    assert {c["temperature"] for c in scripted.calls} == {0.8} and scripted.calls[0]["stop"] == ["\n"]
    assert result.pass_rate == 0.6 and result.passed and "seed" not in result.params
    assert len(result.notes) == 2
    assert "temperature=0 was not used" in result.notes[0] and "temperature 0.8" in result.notes[0]
    assert "seed=7 was not used" in result.notes[1]
    text = repr(result)
    assert "Note: temperature=0 was not used" in text and "Note: seed=7" in text
    low, high = result.ci
    assert (round(low, 2), round(high, 2)) == (0.31, 0.83)  # Wilson, 6 of 10
    assert "6/10 answers passed = 60% (95% CI 31%-83%" in text
    assert "95% CI 31%-83%" in result._repr_html_() and "Note: seed=7" in result._repr_html_()
    assert "fixed: seed, temperature" in repr(SAMPLED)


def test_a_learners_seed_is_replaced_on_every_exercise_but_agree_mode(scripted, runner):
    scripted.answer = lambda text, seed, i: _digits(text)
    result = E.check(NUMBERS, "Q: {text}", "scripted:m", runner=runner, seed=5)
    assert sorted({c["seed"] for c in scripted.calls}) == [0, E.SEED_STEP] and "seed=5 was not used" in result.notes[0]
    ex = E.get("02-same-answer")  # fixing a seed is one way to make runs agree: kept
    assert not E.check(ex, ex.starter, "scripted:m", runner=runner, seed=42).notes


def test_a_sampled_exercise_must_sample_enough():
    for params, runs in (({"temperature": 0.5}, 5), ({"temperature": 0.8}, 3), ({}, 5)):
        with pytest.raises(E.ExerciseError, match=r"sampled exercise needs temperature >= 0.7.*runs >= 5"):
            E.Exercise(id="99-bad", title="t", notebook="99", task="t", variables=("text",),
                       cases=NUMBERS.cases, checks=(E.answer_equals(),), params=params, runs=runs, sampled=True,
                       solution=wb.Prompt(user="{text}"), starter=wb.Prompt(user="{text}"))


def test_vote_mode_keeps_the_majority_of_the_samples(scripted, runner):
    ex = E.get("05-majority-vote")

    def answer(text: str, seed: int, index: int) -> str:
        right = _digits(text)
        return [f"{right} items", "9", right, "0", f"about {right}"][index % 5]

    scripted.answer = answer
    one = E.check(ex, ex.starter, "scripted:m", runner=runner, stop=["\n"])  # n=1: the first sample only
    assert one.passed  # "3 items" votes for 3
    scripted.answer = lambda text, seed, index: ["9", _digits(text), "0", _digits(text), "7"][index % 5]
    single = E.check(ex, ex.starter, "scripted:m", runner=runner, stop=["\n"], cache=False)
    voted = E.check(ex, ex.starter, "scripted:m", runner=runner, stop=["\n"], n=5, cache=False)
    assert single.pass_rate == 0 and voted.pass_rate == 1.0
    assert voted.attempts[0].votes[0][1] == 2 and "majority of 5 samples" in voted.attempts[0].explanation
    with pytest.raises(wb.ParamsError, match="fixes temperature"):
        E.check(ex, ex.starter, "scripted:m", runner=runner, temperature=0)


def test_errors_from_the_model_count_as_failures_with_the_reason(scripted, runner):
    def answer(text: str, seed: int, index: int) -> str:
        raise wb.ServerError("upstream exploded")

    scripted.answer = answer
    result = E.check(NUMBERS, "{text}", "scripted:m", runner=runner)
    assert result.pass_rate == 0 and len(result.errors) == 4
    assert "the call failed: ServerError" in result.failures[0].explanation
    assert "call(s) failed with an error" in repr(result)


def test_a_playground_state_supplies_prompt_parameters_and_model(scripted, runner):
    scripted.answer = lambda text, seed, i: _digits(text)
    state = SimpleNamespace(prompt=lambda: wb.Prompt(user="Q: {text}"), params={"temperature": 0},
                            model="scripted:pg")
    result = E.check(NUMBERS, SimpleNamespace(state=state), runner=runner)
    assert result.model == "scripted:pg" and result.params["temperature"] == 0 and result.passed


def test_a_real_playground_can_be_graded(scripted, runner):
    pytest.importorskip("ipywidgets")
    scripted.answer = lambda text, seed, i: _digits(text)
    pg = wb.Playground(wb.Prompt(user="Q: {text}"), model="scripted:pg", temperature=0, log=":memory:")
    result = E.check(NUMBERS, pg, runner=runner)
    assert result.passed and result.model == "scripted:pg" and result.prompt.user == "Q: {text}"


# --- the grader: its own module, the scoring protocol, no import cycle --------------------------
def _with_checks(*checks) -> E.Exercise:
    import dataclasses

    return dataclasses.replace(NUMBERS, checks=checks, runs=1)


def test_checks_go_through_the_scoring_protocol(runner):
    """Async checks, NumPy results and (value, why) tuples all grade; the course's checks name themselves."""
    import asyncio

    import numpy as np

    from workbench import testing

    model = testing.script("numbers", ["3", "It is 12"])

    async def digits_only(output, case, response):
        await asyncio.sleep(0)
        return output.strip().isdigit(), "digits only" if output.strip().isdigit() else "not only digits"

    def numpy_says(output, case, response):
        return np.bool_(case.expected in output)

    result = E.check(_with_checks(digits_only, numpy_says, E.answer_equals()), "{text}", model, runner=runner,
                     temperature=0)
    assert [a.passed for a in result.attempts] == [True, False]
    assert result.attempts[0].explanation == "digits only; yes; equals '3'"
    assert result.attempts[1].explanation.startswith("not only digits; contains '12' but also other words")
    assert E.answer_equals().__name__ == "answer_equals" and E.matches("x", "x").__name__ == "matches"


def test_an_exercise_passes_its_tools_and_response_format_and_a_learner_may_replace_them(runner):
    """Lesson 09 grades tool calls and schema-bound answers: the exercise's tools and response_format reach
    the call, and check(..., tools=, response_format=) replaces them (a learner writes their own tool)."""
    import dataclasses

    from workbench import testing
    from workbench._course_tools import PERSON_SCHEMA

    ex = E.get("09-tool-arguments")
    assert ex.tools and ex.params["tool_choice"] == "required"
    call = {"content": "", "tool_calls": [{"name": "get_order", "arguments": {"order_id": "B-2044"}}]}
    model = testing.script("tools-ex", default=call)
    own = {"type": "function", "function": {"name": "get_order", "description": "Mine.", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    one_case = dataclasses.replace(ex, cases=ex.cases[:1], runs=1, sampled=False)
    default = E.check(one_case, ex.starter, model, runner=runner)
    mine = E.check(one_case, ex.starter, model, runner=runner, tools=[own])
    sent = [c.options for c in testing.calls("tools-ex")]
    assert [t.description for t in sent[0].tools] == ["Get an order."] and sent[0].tool_choice == "required"
    assert [t.description for t in sent[1].tools] == ["Mine."]
    assert default.passed and mine.passed and "get_order(order_id='B-2044')" in default.attempts[0].explanation

    person = dataclasses.replace(E.get("09-valid-and-right"), runs=1, sampled=False)
    assert person.response_format is None  # choosing response_format is the learner's part
    graded = {}
    answers = {"title kept": '{"name": "Dr. Helen Park", "age": 47}', "age wrong": '{"name": "Helen Park", "age": 12}',
               "wrapped": 'Sure! {"name": "Helen Park", "age": 47}',
               "age as text": '{"name": "Helen Park", "age": "47"}',
               "no surname": '{"name": "Helen", "age": 47}'}
    for label, text in answers.items():
        model = testing.script(f"person-{len(graded)}", default=text)
        graded[label] = E.check(dataclasses.replace(person, cases=person.cases[:1]), person.starter, model,
                                runner=runner, response_format=PERSON_SCHEMA if label == "title kept" else None)
    assert testing.calls("person-0")[0].options.response_format is not None
    assert testing.calls("person-1")[0].options is None  # no tools, no response_format: a plain call
    assert graded["title kept"].passed, "a title may stay: the surname is in the name"
    why = {label: r.attempts[0].explanation for label, r in graded.items() if label != "title kept"}
    assert not any(graded[label].passed for label in why), why
    assert "valid but wrong: age 12 instead of 47" in why["age wrong"]
    assert "a program cannot read it: not JSON" in why["wrapped"]
    assert "does not fit the schema" in why["age as text"] and "'47' is not of type 'integer'" in why["age as text"]
    assert "lacks the surname 'Park'" in why["no surname"]


def test_a_check_returning_text_is_refused_naming_the_check(runner):
    from workbench import testing

    model = testing.script("numbers-text", ["3", "12"])

    def says_yes(output, case, response):
        return "yes"

    with pytest.raises(wb.ScorerError, match="'says_yes' returned str"):
        E.check(_with_checks(says_yes), "{text}", model, runner=runner)


def test_a_plain_check_may_call_a_model(runner):
    """Plain checks run off the event loop, so one that asks a model (a synchronous wb.complete) works."""
    from workbench import testing

    model = testing.script("numbers-asked", ["3", "12"])
    referee = testing.script("referee", ["yes", "no"])

    def referee_agrees(output, case, response):
        return wb.complete(referee, f"Is {output} right?", cache=False).text == "yes"

    result = E.check(_with_checks(referee_agrees), "{text}", model, runner=runner)
    assert [a.passed for a in result.attempts] == [True, False]
    assert [c.messages[-1]["content"] for c in testing.calls("referee")] == ["Is 3 right?", "Is 12 right?"]


def _workbench_imports(module: str) -> set[str]:
    """The workbench modules ``module`` imports (at any depth of its code), as dotted names."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.rsplit(".", node.level)[0]
            found.add(f"{base}.{node.module}" if node.module else base)
            if not node.module:
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("workbench"))
    return found


def test_grader_course_and_exercises_import_each_other_one_way_only():
    assert _workbench_imports("workbench._course") == {"workbench._grader", "workbench._course_tools",
                                                       "workbench._course_retrieval"}
    assert _workbench_imports("workbench._course_tools") == {"workbench._grader"}
    assert _workbench_imports("workbench._course_retrieval") == {"workbench._grader", "workbench._citations"}
    grader = _workbench_imports("workbench._grader")
    assert not grader & {"workbench.exercises", "workbench._course"}
    assert {"workbench._grader", "workbench._course"} <= _workbench_imports("workbench.exercises")


def test_the_registry_is_built_on_first_use_not_at_import():
    import subprocess
    import sys

    code = (
        "import sys, workbench._course as C\n"
        "assert 'workbench.exercises' not in sys.modules  # the course needs no registry\n"
        "calls = []\n"
        "real = C.exercises\n"
        "C.exercises = lambda: calls.append(1) or real()\n"
        "import workbench.exercises as E\n"
        "assert calls == [], 'built at import'\n"
        "assert E.get('01-extract-name').notebook == '01' and calls == [1]\n"
        "E.ids(); E.catalog()\n"
        "assert calls == [1], 'built twice'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_register_adds_to_the_course_and_refuses_a_clash():
    import dataclasses

    mine = dataclasses.replace(NUMBERS, id="99-mine")
    try:
        assert E.register(mine) is mine and "99-mine" in E.ids("99") and "01-extract-name" in E.ids()
        with pytest.raises(E.ExerciseError, match="already registered"):
            E.register(mine)
        with pytest.raises(E.ExerciseError, match="already registered"):
            E.register(dataclasses.replace(NUMBERS, id="01-extract-name"))
    finally:
        E._REGISTRY.pop("99-mine", None)


def test_first_number_and_normalise_answer():
    assert E.first_number("about 12 boxes, not 3") == "12" and E.first_number("none") == ""
    assert E.first_number("It costs 49.90.") == "49.90"
    assert E.normalise_answer("  Positive. ") == "positive"


# --- the calibration, on the real offline model -----------------------------------------------

# Measured on SmolLM2-135M-Instruct (Q4_1, llama.cpp) by the test below at 1 and 2 threads (2026-12-01; the rates
# were identical at both): pass rate of the notebook's starter prompt, of the reference solution, and the pass mark.
# The test took 31 min of CI for 21 exercises x 2 thread counts (uncontended estimate from that run).
# Sampled exercises (issue 17: temperature 0.8, the grader's 5 seeds per case) are asserted with a margin:
# starter <= 0.2 and reference >= pass mark + 0.2. The others are about a parameter (a seed, n samples):
# their starter must fail and their reference pass.
MEASURED = {
    # id:                 (starter, solution, pass mark)
    "01-extract-name": (0.00, 0.92, 0.6),
    "01-quantity": (0.04, 0.88, 0.6),
    "02-clean-stop": (0.04, 0.84, 0.6),
    "02-same-answer": (0.00, 1.00, 1.0),
    "03-json-contact": (0.05, 0.85, 0.6),
    "03-list-items": (0.00, 0.95, 0.6),
    "04-amount": (0.00, 1.00, 0.6),
    "04-generalise": (0.00, 0.85, 0.6),
    "04-order-id": (0.00, 0.97, 0.6),
    "05-confident-answer": (0.00, 0.83, 0.6),
    "05-majority-vote": (0.67, 1.00, 0.9),
    "05-say-unknown": (0.33, 0.70, 0.55),
    "06-injection": (0.07, 0.97, 0.6),
    "06-rephrase": (0.00, 0.96, 0.6),
    "07-short-prompt": (0.00, 1.00, 0.6),
    "07-token-budget": (0.00, 1.00, 0.6),
    "08-reply": (0.00, 0.85, 0.6),
    "08-triage-json": (0.00, 0.95, 0.6),
    "09-tool-arguments": (0.20, 1.00, 0.6),
    "09-valid-and-right": (0.00, 0.84, 0.6),
    "10-verifiable-citation": (0.08, 0.88, 0.6),
}

#: Sampled exercises whose reference passes with less room, and why (asserted: starter fails, reference passes).
NARROW = {
    "05-say-unknown": "half its cases are answerable, so a starter that never abstains still scores ~0.33, and "
                      "SmolLM2 at temperature 0.8 trades answering for abstaining: the best reference found is 0.70 "
                      "(pass mark 0.55, above the 0.50 that 'always unknown' scores)",
}

#: Starter at most this, reference at least the pass mark plus this, on every sampled exercise.
MARGIN = 0.2


def test_the_measured_table_covers_every_exercise():
    assert sorted(MEASURED) == E.ids(kind="prompt")
    assert all(MEASURED[i][2] == E.get(i).threshold for i in MEASURED)
    for exercise_id, (starter, solution, mark) in MEASURED.items():
        if E.get(exercise_id).sampled and exercise_id not in NARROW:
            assert starter <= MARGIN and solution >= mark + MARGIN, exercise_id


def test_robustness_is_graded_by_sampling_except_where_a_parameter_is_the_lesson():
    plain = [i for i in E.ids(kind="prompt") if not E.get(i).sampled]
    assert plain == ["02-same-answer", "05-majority-vote"], plain


@pytest.mark.local_model
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("exercise_id", sorted(MEASURED))
def test_starter_fails_and_solution_passes_on_the_local_model(exercise_id, threads, tmp_path, monkeypatch,
                                                              fresh_providers):
    # the local provider is made afresh with these; prompt reading too uses `threads` (llama.cpp's default is every
    # core), so "1 thread" means one, and the test does not spin against another process on a shared machine
    monkeypatch.setenv("WORKBENCH_THREADS", str(threads))
    monkeypatch.setenv("WORKBENCH_THREADS_BATCH", str(threads))
    runner = wb.Runner(log=tmp_path / "calibration.sqlite", progress=False)
    ex = E.get(exercise_id)
    started = time.perf_counter()
    starter = E.starter(exercise_id)
    naive = E.check(exercise_id, starter.prompt, "local:smollm2", runner=runner, **starter.params)
    solution = E.solution(exercise_id)
    reference = E.check(exercise_id, solution.prompt, "local:smollm2", runner=runner, **solution.params)
    print(f"\n{exercise_id} at {threads} thread(s): starter {naive.pass_rate:.2f}, solution {reference.pass_rate:.2f} "
          f"{reference.ci} (pass mark {ex.threshold:.2f}; {time.perf_counter() - started:.1f} s)")
    assert get_provider("local").n_threads == threads
    assert not any(a.response.cached for a in naive.attempts + reference.attempts)
    assert not naive.errors and not reference.errors
    assert not naive.passed, f"the naive starter passes {exercise_id}:\n{naive!r}"
    assert reference.passed, f"the reference solution fails {exercise_id}:\n{reference!r}"
    if ex.sampled and exercise_id not in NARROW:  # calibrated with room to spare: not a verdict one answer flips
        assert naive.pass_rate <= MARGIN, f"{exercise_id} starter {naive.pass_rate:.2f}:\n{naive!r}"
        assert reference.pass_rate >= ex.threshold + MARGIN - 1e-9, (
            f"{exercise_id} reference {reference.pass_rate:.2f} < pass mark + {MARGIN}:\n{reference!r}")
