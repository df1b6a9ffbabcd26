"""wb.improve on scripted mock models: the split, acceptance only on held-out, the optimism gap, budgets, resume."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import workbench as wb
from workbench import testing
from workbench._improve import Improvement, min_cases, prompt_diff, split_cases
from workbench._proposers import (
    Context,
    ModelProposer,
    ProposalError,
    add_examples,
    add_format_instruction,
    add_stop,
    answer_only,
    instructions_first,
    lower_temperature,
    parse_suggestion,
)

LABELS = ["billing", "bug", "other"]


def _cases(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"ticket number {i} about topic {i * 7 % 13}" for i in range(n)],
                         "expected": [LABELS[i % 3] for i in range(n)]})


CASES = _cases()
TRUTH = dict(zip(CASES["text"], CASES["expected"], strict=True))


def world(messages, params):
    """A model that answers right when the system names the labels (on 3 of 4 cases), or when it has seen the
    very case as a few-shot example (memory, which helps only the train cases the examples came from)."""
    text = messages[-1]["content"]
    case = next((t for t in TRUTH if t in text), None)
    seen = any(case is not None and case in m["content"] for m in messages[:-1] if m["role"] == "user")
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    number = int(case.split()[2]) if case else 0
    if seen:
        return TRUTH[case]
    if "exactly one of" in system and number % 4 != 0:
        return TRUTH[case]
    return "I think this ticket is about something"


PROMPT = wb.Prompt(user="Classify this ticket: {text}")


def test_the_split_is_fixed_by_the_seed_and_refuses_too_few_cases():
    train, held = split_cases(CASES, 0.3, seed=0)
    again, held_again = split_cases(CASES, 0.3, seed=0)
    assert list(train.index) == list(again.index) and list(held.index) == list(held_again.index)
    assert len(held) == 12 and len(train) == 28 and not set(train.index) & set(held.index)
    other, _ = split_cases(CASES, 0.3, seed=1)
    assert list(other.index) != list(train.index)
    assert min_cases(0.3) == 19
    with pytest.raises(wb.CasesError, match=r"10 cases are too few.*at least 19 are needed.*6 held-out"):
        split_cases(_cases(10), 0.3)
    with pytest.raises(wb.ParamsError, match="holdout=1.5"):
        split_cases(CASES, 1.5)


def test_only_the_operator_that_helps_on_held_out_is_accepted(runner):
    model = testing.script("world", default=world)
    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[add_examples,
                     add_format_instruction], rounds=3, candidates=1, runner=runner, seed=0)
    h = imp.history
    assert list(h["proposer"]) == ["original", "add_examples", "add_format_instruction", "add_examples"]
    examples = h[h["proposer"] == "add_examples"]
    # few-shot examples from train help on train (memory) but not on held-out: rejected, a positive optimism gap
    assert (examples["train_score"] > h["train_score"].iloc[0]).all()
    assert all(s.startswith("rejected: not confirmed on held-out") for s in examples["status"])
    fmt = h[h["proposer"] == "add_format_instruction"].iloc[0]
    assert fmt["status"].startswith("accepted") and fmt["holdout_ci_low"] > 0 and fmt["p_value"] < 0.05 / 3
    assert "+ system" not in fmt["diff"] and "+Answer with exactly one of: " in fmt["diff"]
    assert imp.improved and "exactly one of" in imp.best.system and not imp.best.examples
    assert imp.best_params == {}
    verdict = imp.verdict
    assert verdict.startswith("+0.") and "on 12 held-out cases (95% CI +" in verdict and "p = " in verdict
    assert "add_format_instruction" in verdict
    first = examples.iloc[0]
    assert first["holdout_diff"] == 0 and first["train_score"] - h["train_score"].iloc[0] > 0.05
    assert imp.optimism_gap is not None and not math.isnan(imp.optimism_gap)
    rounds = imp.rounds_table()
    assert list(rounds["round"]) == [0, 1, 2, 3] and rounds["holdout"].iloc[2] > rounds["holdout"].iloc[1]
    assert imp.figure().axes[0].get_title().startswith("Improve: 28 train, 12 held-out")
    # the proposers saw the train cases only
    assert imp.calls_made == len(testing.calls("world"))


def test_nothing_confirmed_says_so_and_keeps_the_original(runner):
    model = testing.script("world2", default=world)
    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[add_examples], rounds=1,
                     candidates=1, runner=runner)
    assert not imp.improved and imp.best == PROMPT
    assert imp.verdict.startswith("No change confirmed on 12 held-out cases: the best candidate on train, r1c1 "
                                  "(add_examples, train +")
    assert "The original prompt is kept" in imp.verdict and imp.optimism_gap > 0


def test_no_candidate_above_the_original_on_train_is_never_tested_on_held_out(runner):
    model = testing.script("flat", default=lambda m, p: "no idea")
    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[answer_only, add_stop],
                     rounds=1, candidates=2, runner=runner)
    assert imp.verdict.startswith("No change confirmed: none of 2 candidates scored above the original on train")
    assert imp.history["holdout_score"].iloc[1:].isna().all() and imp.optimism_gap is None
    assert len(testing.calls("flat")) == 40 + 2 * 28  # the baseline everywhere, candidates on train only


def test_resume_after_an_interruption_pays_for_nothing_twice(runner):
    model = testing.script("resume", default=world)
    kwargs = dict(operators=[add_examples, add_format_instruction], rounds=2, candidates=1, runner=runner)
    first = Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, **kwargs)

    def interrupt(what):
        if what == "candidate" and first.round == 2:
            first.stop()

    first.observe(interrupt)
    first.run()
    assert first.stopped and "run again to resume" in first.stopped
    paid_before = len(testing.calls("resume"))
    second = Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, **kwargs).run()
    paid_after = len(testing.calls("resume"))
    fresh = wb.Runner(log=":memory:", progress=False)
    testing.script("resume-fresh", default=world)
    full = Improvement(PROMPT, CASES, [wb.scorers.label_match()], "mock:resume-fresh",
                       **{**kwargs, "runner": fresh}).run()
    assert paid_before + (paid_after - paid_before) == len(testing.calls("resume-fresh")) == full.calls_made
    assert second.calls_reused >= paid_before and second.verdict.split(":")[0] == full.verdict.split(":")[0]


def test_plan_and_budgets_before_any_call(runner):
    model = testing.script("plan", default=world)
    imp = Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, rounds=3, candidates=4, runner=runner)
    plan = imp.plan()
    assert (plan.baseline_calls, plan.calls_per_round, plan.max_calls) == (40, 4 * 28 + 12, 40 + 3 * 124)
    assert "at most 412 calls" in repr(plan) and "p < 0.0167" in repr(plan)
    with pytest.raises(wb.BudgetExceededError, match=r"budget_calls=100 is smaller than one round.*164"):
        Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, budget_calls=100, runner=runner)
    with pytest.raises(wb.BudgetExceededError, match="price of mock:plan is unknown"):
        Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, budget_usd=1.0, runner=runner)
    stopped = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, rounds=3, candidates=1,
                         operators=[add_examples, add_format_instruction], budget_calls=40 + 28 + 12 + 10,
                         runner=runner)
    assert "budget" in stopped.stopped and "The run stopped early: budget" in stopped.verdict
    assert stopped.calls_made <= 40 + 28 + 12 + 10
    assert testing.calls("plan") and len(testing.calls("plan")) == stopped.calls_made


def test_bad_input_is_named_before_any_call(runner):
    model = testing.script("bad", default=world)
    with pytest.raises(wb.ScorerError, match="at least one scorer"):
        Improvement(PROMPT, CASES, [], model, runner=runner)
    with pytest.raises(wb.CasesError, match="no 'expected' column"):
        Improvement(PROMPT, CASES.drop(columns="expected"), [wb.scorers.label_match()], model, runner=runner)
    holes = CASES.copy()
    holes.loc[3, "expected"] = None
    with pytest.raises(wb.CasesError, match="1 case\\(s\\) have no expected value"):
        Improvement(PROMPT, holes, [wb.scorers.label_match()], model, runner=runner)
    with pytest.raises(wb.CasesError, match="lacks columns"):
        Improvement(wb.Prompt(user="{body}"), CASES, [wb.scorers.label_match()], model, runner=runner)
    with pytest.raises(wb.ParamsError, match="rounds=0"):
        Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, rounds=0, runner=runner)
    with pytest.raises(wb.ParamsError, match="No proposer and no operators"):
        Improvement(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[], runner=runner)
    assert testing.calls("bad") == []


def test_a_round_where_no_proposer_gives_anything_usable_is_a_visible_stop(runner):
    model = testing.script("useless", default=world)

    def broken(ctx):
        raise ProposalError("no idea")

    def nothing(ctx):
        return None

    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[broken, nothing], runner=runner)
    assert imp.stopped.startswith("round 1: no proposer produced a usable candidate (broken: failed: no idea)")
    assert imp.verdict.startswith("Stopped before any candidate was scored: round 1: no proposer produced")
    assert list(imp.history["status"])[1] == "failed: no idea"


def test_a_model_proposer_is_parsed_and_its_failures_are_shown(runner):
    target = testing.script("target", default=world)
    good = "SYSTEM:\nYou sort tickets. Answer with exactly one of: billing, bug, other.\nUSER:\nTicket: {{text}}"
    proposer = testing.script("writer", ["Sure! Here is a better prompt without sections.", good], default=good)
    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], target, proposer=proposer, operators=[],
                     rounds=1, candidates=2, runner=runner)
    h = imp.history
    assert h["status"].iloc[1].startswith("failed: no 'USER:' section in the model's answer")
    made = h[h["candidate"] == "r1c1"].iloc[0]
    assert made["proposer"] == "model:mock:writer" and "+Ticket: {text}" in made["diff"]
    sent = testing.calls("writer")[0].messages[-1]["content"]
    assert "Classify this ticket: {text}" in sent and "why wrong:" in sent and "label_match" in sent
    assert not any(t in sent for t in imp.holdout_cases["text"])  # held-out cases never reach the proposer


def test_parse_suggestion_is_robust_and_says_what_failed():
    current = wb.Prompt(system="Old.", user="Classify: {text}")
    p = parse_suggestion("```\n**System:** Be brief.\n**User:** Label this: {{text}} {json}\n```", current)
    assert p.system == "Be brief." and p.user == "Label this: {text} {{json}}"
    assert parse_suggestion("USER: Text: {text}", current).system == "Old."
    for answer, why in [("", "empty"), ("just words", "no 'USER:'"), ("USER: no placeholder", "dropped"),
                        ("SYSTEM: Old.\nUSER: Classify: {text}", "unchanged")]:
        with pytest.raises(ProposalError, match=why):
            parse_suggestion(answer, current)
    assert "{prompt}" in ModelProposer("mock:x").meta_prompt


def _ctx(prompt=PROMPT, params=None, scorers=None, train=None):
    return Context(prompt, params or {}, CASES if train is None else train, [],
                   scorers or [wb.scorers.label_match()])


def test_each_operator_is_one_small_edit():
    fmt = add_format_instruction(_ctx())
    assert fmt.prompt.system == "Answer with exactly one of: billing, bug, other."
    assert add_format_instruction(_ctx(fmt.prompt)) is None
    json_fmt = add_format_instruction(_ctx(scorers=[wb.scorers.valid_json()]))
    assert "JSON" in json_fmt.prompt.system
    ex = add_examples(_ctx())
    assert len(ex.prompt.examples) == 3 and {a for _, a in ex.prompt.examples} == set(LABELS)
    assert all(q.startswith("Classify this ticket: ticket number") for q, _ in ex.prompt.examples)
    assert add_examples(_ctx(train=CASES.drop(columns="expected"))) is None
    assert add_stop(_ctx()).params == {"stop": ["\n"]} and add_stop(_ctx(params={"stop": ["."]})) is None
    assert "answer only" in answer_only(_ctx()).prompt.system
    moved = instructions_first(_ctx())
    assert moved.prompt.user == "Classify this ticket: the <text> below\n\n<text>\n{text}\n</text>"
    assert instructions_first(_ctx(moved.prompt)) is None and instructions_first(_ctx(wb.Prompt(user="{text}"))) is None
    assert lower_temperature(_ctx(params={"temperature": 0.7})).params == {"temperature": 0}
    assert lower_temperature(_ctx(params={"temperature": 0})) is None


def test_prompt_diff_shows_what_changed():
    d = prompt_diff(PROMPT, {}, PROMPT.with_(system="Be terse."), {"temperature": 0})
    assert "+temperature: 0" in d and "+Be terse." in d and "@@" in d


def test_a_user_operator_is_named_in_the_history(runner):
    model = testing.script("user-op", default=world)

    def name_the_labels(ctx):
        return ctx.prompt.with_(system="Answer with exactly one of: billing, bug, other.")

    imp = wb.improve(PROMPT, CASES, [wb.scorers.label_match()], model, operators=[name_the_labels], rounds=1,
                     candidates=1, runner=runner)
    assert imp.history["proposer"].iloc[1] == "name_the_labels" and imp.improved


# --- the widget's state and the review of generated cases ------------------------------------------
def test_improve_state_runs_live_stops_and_accepts_a_version(runner):
    from workbench.state.improve import CaseReviewState, ImproveState

    model = testing.script("state-world", default=world)
    state = ImproveState(PROMPT, CASES, [wb.scorers.label_match()], model, runner=runner,
                         operators=[add_format_instruction], rounds=1, candidates=1)
    heard = []
    state.observe(heard.append)
    with pytest.raises(wb.WorkbenchError, match="not finished"):
        state.accept()
    state.run(timeout=60)
    assert "candidate" in heard and "running" in heard and state.rows()[1]["status"].startswith("accepted")
    version = state.accept("labels-named")
    assert version.note == state.improvement.verdict and version.params == {}
    assert version.prompt["system"].startswith("Answer with exactly one of")
    assert "Saved as version" in state.info and "held-out" in state.summary_text()
    assert state.png()[:4] == b"\x89PNG"

    slow = testing.script("slow-world", default=world, delay=0.05)
    stopping = ImproveState(PROMPT, CASES, [wb.scorers.label_match()], slow, runner=runner, rounds=1, candidates=1,
                            operators=[add_format_instruction])
    stopping.start()
    from tests.conftest import wait_until

    assert wait_until(lambda: len(testing.calls("slow-world")) >= 3)
    assert stopping.stop() and stopping.wait(30)
    assert "Stopped: stopped by the user" in stopping.info and len(testing.calls("slow-world")) < 40
    with pytest.raises(wb.WorkbenchError, match="no change was confirmed"):
        stopping.accept()

    review = CaseReviewState(pd.DataFrame({"text": ["a", "b", "c"], "expected": ["x", "y", "z"],
                                           "kind": ["typical"] * 3, "generated": True, "accepted": False}))
    review.edit(0, "expected", "billing")
    review.delete(1)
    review.set_accepted(0)
    assert list(review.cases()["expected"]) == ["billing"] and review.counts() == {"cases": 2, "accepted": 1}
    review.accept_all()
    assert len(review.cases()) == 2
    with pytest.raises(wb.WorkbenchError, match="cannot be edited"):
        review.edit(0, "kind", "edge")


def test_the_improve_widget_and_the_review_table_build(runner):
    pytest.importorskip("ipywidgets")
    model = testing.script("widget-world", default=world)
    widget = wb.Improve(PROMPT, CASES, [wb.scorers.label_match()], model, runner=runner,
                        operators=[add_format_instruction], rounds=1, candidates=1)
    assert "Press Run" in widget.table.value and widget.accept_button.disabled
    widget.run_button.click()
    assert widget.state.wait(60)
    widget._draw()
    assert "r1c1" in widget.table.value and "accepted" in widget.table.value and "<details>" in widget.table.value
    assert not widget.accept_button.disabled and widget.verdict.value.count("held-out") >= 1
    widget.accept_button.click()
    assert widget.state.version is not None and widget.accept_button.disabled
    review = wb.ReviewCases(pd.DataFrame({"text": ["a", "b"], "expected": ["x", "y"], "kind": ["edge", "typical"]}))
    assert len(review.grid.children) == 3
    review.grid.children[1].children[-1].click()  # delete the first case
    assert len(review.grid.children) == 2 and list(review.state.frame["text"]) == ["b"]
    review.grid.children[1].children[-2].value = True
    assert list(review.cases()["text"]) == ["b"]
