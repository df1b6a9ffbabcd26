"""Experiments end to end against the loopback fake OpenAI server: the table, scores, judges,
ratings, resume, the budget guard and bad cases tables (each refused before any call)."""

from __future__ import annotations

import asyncio
import math

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer, echo_responder

MODEL = "openai:gpt-4o-mini"
V1 = wb.Prompt(user="{q}")
V2 = wb.Prompt(system="Be brief.", user="Q: {q}")
CASES = pd.DataFrame({"id": ["a", "b", "c"], "q": ["one", "two", "three"],
                      "expected": ["Echo: one", "Echo: Q: two", "nope"], "topic": ["x", "y", "z"]})


def judge_or_echo(body):
    """Answers judge prompts with a score (or an unreadable answer for 'three'), echoes the rest."""
    last = body["messages"][-1]["content"]
    if "Rubric:" in last:
        return "I cannot decide." if "three" in last else "SCORE: 4\nClear and correct."
    return echo_responder(body)


@pytest.fixture
def fake(monkeypatch, fresh_providers):
    with FakeServer(responder=judge_or_echo) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        wb.set_key("OPENAI_API_KEY", "test-key")
        yield server


def _chat_requests(fake) -> list[dict]:
    return [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")]


def test_end_to_end_tidy_results(fake, runner, log):
    exp = wb.Experiment({"v1": V1, "v2": V2}, models=MODEL, params={"temperature": [0, 0.5], "max_tokens": 20},
                        cases=CASES, scorers=[wb.scorers.exact_match(), wb.scorers.contains("echo")], repeats=2,
                        runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert len(results) == len(exp.cells) == 2 * 2 * 3 * 2 and fake.stats["requests"] == 24
    expected_columns = ["experiment_id", "variant", "model", "temperature", "max_tokens", "case_id", "repeat", "q",
                        "topic", "expected", "output", "exact_match", "exact_match_passed", "exact_match_explanation",
                        "contains", "contains_passed", "contains_explanation", "prompt_tokens", "completion_tokens",
                        "reasoning_tokens", "cached_tokens", "latency_s", "cost_usd", "cached", "finish_reason",
                        "error", "call_id", "rating"]
    assert list(results.columns) == expected_columns
    v2 = results[results.variant == "v2"]
    assert (v2["output"] == "Echo: Q: " + v2["q"]).all()
    assert set(results["case_id"]) == {"a", "b", "c"} and set(results["temperature"]) == {0, 0.5}
    # exact_match against each case's expected answer
    hits = results.groupby(["variant", "case_id"])["exact_match"].mean()
    assert hits[("v1", "a")] == 1 and hits[("v2", "b")] == 1 and hits[("v1", "b")] == 0 and hits[("v2", "c")] == 0
    assert (results["contains"] == 1).all() and results["error"].isna().all()
    # repeats are distinct calls, not answers from the cache; each is logged under the experiment
    assert not results["cached"].any() and results["call_id"].is_unique
    assert len(log.calls(experiment_id=exp.experiment_id)) == 24
    assert (results["cost_usd"] > 0).all() and results["prompt_tokens"].gt(0).all()
    # extra columns stay in the table but are not sent
    assert not any(m["content"] == "x" or "topic" in m["content"] for r in _chat_requests(fake) for m in r["messages"])
    assert results.attrs["scorers"] == ["exact_match", "contains"] and results.attrs["params"] == ["temperature",
                                                                                                    "max_tokens"]


def test_failed_calls_are_rows_with_an_error_and_no_score(fake, runner):
    fake.script(["400"])
    exp = wb.Experiment(V1, models=MODEL, cases=CASES, scorers=[wb.scorers.contains("echo")], runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert len(results) == 3
    failed = results[results["error"].notna()]
    assert len(failed) == 1 and failed["error"].iloc[0].startswith("BadRequestError")
    assert math.isnan(failed["contains"].iloc[0]) and pd.isna(failed["contains_passed"].iloc[0])
    assert results["contains"].notna().sum() == 2


def test_rerun_reuses_the_log_and_calls_nothing(fake, runner, capsys):
    exp = wb.Experiment({"v1": V1}, models=MODEL, cases=CASES, repeats=2, runner=runner)
    first = exp.run(progress=False)
    again = wb.Experiment({"v1": V1}, models=MODEL, cases=CASES, repeats=2, runner=runner)
    assert again.experiment_id == exp.experiment_id  # derived from the content
    assert again.plan().reused == 6 and again.plan().to_run == 0
    second = again.run(progress=False)
    assert fake.stats["requests"] == 6 and again.last_run["reused"] == 6
    assert list(second["output"]) == list(first["output"]) and list(second["call_id"]) == list(first["call_id"])
    assert "6 reused from the log, 0 run" in capsys.readouterr().out
    changed = wb.Experiment({"v1": V1}, models=MODEL, cases=CASES, repeats=3, runner=runner)
    assert changed.experiment_id != exp.experiment_id


def test_resume_calls_only_the_missing_cells(fake, runner, log):
    small = wb.Experiment({"v1": V1, "v2": V2}, models=MODEL, cases=CASES.iloc[:1], name="grow", runner=runner)
    small.run(progress=False, verbose=False)
    assert fake.stats["requests"] == 2
    full = wb.Experiment({"v1": V1, "v2": V2}, models=MODEL, cases=CASES, name="grow", runner=runner)
    plan = full.plan()
    assert (plan.calls, plan.reused, plan.to_run) == (6, 2, 4)
    results = full.run(progress=False, verbose=False)
    assert fake.stats["requests"] == 6 and len(results) == 6  # only the 4 new cells were called
    rows = log.calls(experiment_id="grow")
    assert len(rows) == 6 and rows["cell_key"].is_unique


def test_llm_judge_runs_through_the_runner_and_reports_parse_failures(fake, runner, log):
    judge = wb.scorers.llm_judge("The answer repeats the question.", model=MODEL)
    exp = wb.Experiment(V1, models=MODEL, cases=CASES, scorers=[judge], name="judged", runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert fake.stats["requests"] == 6  # 3 answers + 3 judge calls
    by_case = results.set_index("case_id")
    assert by_case.loc["a", "judge"] == 0.75 and "4/5" in by_case.loc["a", "judge_explanation"]
    assert math.isnan(by_case.loc["c", "judge"]) and "judge gave no score" in by_case.loc["c", "judge_explanation"]
    judge_prompts = [r for r in _chat_requests(fake) if "Rubric:" in r["messages"][-1]["content"]]
    assert len(judge_prompts) == 3  # judge calls run concurrently: find the one for case "a" by its content
    assert any("Task given to the model:\none" in j["messages"][-1]["content"]
               and "Echo: one" in j["messages"][-1]["content"] for j in judge_prompts)
    rows = log.calls(experiment_id="judged")
    assert len(rows) == 6 and rows["tags_json"].str.contains('"judge"').sum() == 3
    exp.run(progress=False, verbose=False)
    assert fake.stats["requests"] == 6 and exp.last_run["judge_reused"] == 3  # judge verdicts resume too


def test_human_ratings_join_as_a_column(fake, runner, log):
    exp = wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner)
    first = exp.run(progress=False, verbose=False)
    log.rate(int(first["call_id"].iloc[0]), 1)
    log.rate(int(first["call_id"].iloc[1]), -1, note="wrong")
    second = exp.run(progress=False, verbose=False)
    assert list(second["rating"].iloc[:2]) == [1.0, -1.0] and math.isnan(second["rating"].iloc[2])


def test_arun_and_run_from_inside_a_running_event_loop(fake, runner):
    exp = wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner)

    async def in_a_notebook_cell():
        sync = exp.run(progress=False, verbose=False)  # Jupyter's loop is running: no asyncio.run inside
        asynchronous = await exp.arun(progress=False, verbose=False)
        return sync, asynchronous

    sync, asynchronous = asyncio.run(in_a_notebook_cell())
    assert list(sync["output"]) == list(asynchronous["output"]) and fake.stats["requests"] == 3


def test_progress_bar_made_in_the_callers_thread_counts_every_call(fake, runner, monkeypatch):
    import threading

    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, total=None, **kwargs):
            self.total, self.n, self.closed, self.thread = total, 0, False, threading.current_thread()
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def refresh(self):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    wb.Experiment(V1, models=MODEL, cases=CASES, repeats=2, runner=runner).run(verbose=False)
    assert len(bars) == 1 and bars[0].n == bars[0].total == 6 and bars[0].closed
    assert bars[0].thread is threading.main_thread()


def test_an_added_endpoint_runs_and_its_unknown_price_is_not_zero(fake, runner):
    wb.add_endpoint("fake", base_url=fake.openai_base_url, models=["fake-model"], key_env="FAKE_API_KEY")
    wb.set_key("FAKE_API_KEY", "test-key")
    exp = wb.Experiment(V1, models="fake:fake-model", cases=CASES, runner=runner)
    plan = exp.plan()
    assert plan.cost_usd is None and "unknown" in repr(plan) and "fake:fake-model" in plan.unknown_price
    results = exp.run(progress=False, verbose=False)
    assert list(results["output"]) == ["Echo: one", "Echo: two", "Echo: three"] and results["cost_usd"].isna().all()


def test_prompt_forms_and_names(fake, runner):
    single = wb.Experiment("Say {q}", models=MODEL, cases=CASES, runner=runner)
    assert list(single.prompts) == ["prompt"]
    listed = wb.Experiment([V1, wb.Prompt(user="{q}?", name="asked")], models=MODEL, cases=CASES, runner=runner)
    assert list(listed.prompts) == ["v1", "asked"]
    assert "1 variant x 1 model x 1 setting x 3 cases x 1 repeat = 3 calls" in repr(single)


# --- the budget guard --------------------------------------------------------------------------------
def test_plan_estimates_tokens_and_cost_by_hand(fake, runner):
    cases = pd.DataFrame({"q": ["abcd" * 10] * 5})  # 40 characters -> 10 tokens + 4 for the message
    exp = wb.Experiment(V1, models="openai:gpt-4o", params={"max_tokens": 100}, cases=cases, repeats=2,
                        runner=runner)
    plan = exp.plan()
    assert (plan.calls, plan.to_run, plan.prompt_tokens, plan.completion_tokens) == (10, 10, 140, 1000)
    assert plan.cost_usd == pytest.approx(10 * (14 * 2.5 + 100 * 10.0) / 1e6)
    assert "10 calls" in repr(plan) and f"${plan.cost_usd:.4f}" in repr(plan)


def test_budget_guard_refuses_before_any_call(fake, runner, log):
    cases = pd.DataFrame({"q": [f"question {i}" for i in range(50)]})
    exp = wb.Experiment(V1, models="openai:gpt-4o", params={"max_tokens": 1000}, cases=cases, repeats=2,
                        budget_usd=0.5, runner=runner)
    with pytest.raises(wb.BudgetExceededError) as err:
        exp.run(progress=False)
    message = str(err.value)
    assert "100 calls" in message and "$1.00" in message and "budget_usd=0.5" in message and "Fix" in message
    assert fake.stats["requests"] == 0 and log.count() == 0
    ok = wb.Experiment(V1, models="openai:gpt-4o", params={"max_tokens": 10}, cases=cases.iloc[:3],
                       budget_usd=0.5, runner=runner)
    assert len(ok.run(progress=False, verbose=False)) == 3


def test_budget_with_an_unknown_price_is_refused(fake, runner):
    wb.add_endpoint("fake", base_url=fake.openai_base_url, models=["fake-model"])
    exp = wb.Experiment(V1, models="fake:fake-model", cases=CASES, budget_usd=1.0, runner=runner)
    with pytest.raises(wb.BudgetExceededError, match="unknown.*wb.set_price"):
        exp.run(progress=False)
    assert fake.stats["requests"] == 0


def test_judge_calls_count_in_the_budget(fake, runner):
    judge = wb.scorers.llm_judge("ok?", model="openai:gpt-4o")
    plain = wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner).plan()
    judged = wb.Experiment(V1, models=MODEL, cases=CASES, scorers=[judge], runner=runner).plan()
    assert judged.judge_calls == 3 and judged.cost_usd > plain.cost_usd


# --- bad cases tables, refused before any call ----------------------------------------------------------
def _refused(fake, log, make, error, *fragments):
    with pytest.raises(error) as err:
        make()
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    assert "Fix" in str(err.value) and fake.stats["requests"] == 0 and log.count() == 0


def test_missing_columns_name_the_prompt_and_the_column(fake, runner, log):
    cases = pd.DataFrame({"question": ["hi"]})
    _refused(fake, log, lambda: wb.Experiment({"v1": V1, "v2": V2}, models=MODEL, cases=cases, runner=runner),
             wb.CasesError, "prompt 'v1' needs column 'q'", "prompt 'v2'", "['question']")


def test_cases_csv_with_missing_columns_and_text_kept_as_text(fake, runner, log, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("id,qq,expected\n1,hello,x\n")
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=path, runner=runner), wb.CasesError,
             "needs column 'q'", "did you mean 'qq'")
    path.write_text("q,expected\n007,x\n3.10,y\n")
    exp = wb.Experiment(V1, models=MODEL, cases=str(path), runner=runner)
    assert [c.request.messages[-1]["content"] for c in exp.cells] == ["007", "3.10"]


@pytest.mark.parametrize("cases, fragment", [
    ("missing.csv", "does not exist"),
    (pd.DataFrame({"q": []}), "no rows"),
    (pd.DataFrame({"id": [1, 1], "q": ["a", "b"]}), "unique"),
    (pd.DataFrame({"q": ["a"], "output": ["x"]}), "clash"),
    (pd.DataFrame({"q": ["a", float("nan")]}), "Case 1"),
    (42, "DataFrame"),
])
def test_bad_cases_tables(fake, runner, log, cases, fragment):
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=cases, runner=runner), wb.CasesError, fragment)


def test_scorer_needing_expected_without_expected_column(fake, runner, log):
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=CASES.drop(columns="expected"),
                                              scorers=[wb.scorers.similarity()], runner=runner),
             wb.CasesError, "'expected' column")


def test_bad_scorers_and_parameters(fake, runner, log):
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner,
                                              scorers=[wb.scorers.contains("a"), wb.scorers.contains("b")]),
             wb.ScorerError, "contains")
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner, scorers=["x"]),
             wb.ScorerError, "not a scorer")
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner,
                                              params={"temperature": [0, 3]}), wb.ParamsError, "temperature=3")
    _refused(fake, log, lambda: wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner, repeats=0),
             wb.ParamsError, "repeats=0")
    _refused(fake, log, lambda: wb.Experiment(V1, models=["openai:gpt-4o-mni"], cases=CASES, runner=runner),
             wb.ModelNotFoundError, "gpt-4o-mini")


def test_a_scorer_may_call_a_model_synchronously_and_list_params_group(fake, runner):
    def echoed_twice(output):
        return wb.complete(MODEL, output, runner=runner, max_tokens=20).text.startswith("Echo: Echo:")

    exp = wb.Experiment(V1, models=MODEL, params={"stop": ["\n\n"], "max_tokens": 20}, cases=CASES,
                        scorers=[wb.scorers.custom(echoed_twice)], runner=runner)
    results = exp.run(progress=False, verbose=False)
    assert (results["echoed_twice"] == 1).all() and fake.stats["requests"] == 6
    assert results["stop"].iloc[0] == ("\n\n",) and _chat_requests(fake)[0]["stop"] == ["\n\n"]
    summary = wb.summarize(results)
    assert len(summary) == 1 and summary["mean"].iloc[0] == 1.0


def test_without_a_log_nothing_is_resumed_and_there_is_no_rating_column(fake):
    runner = wb.Runner(log=False, progress=False)
    exp = wb.Experiment(V1, models=MODEL, cases=CASES, runner=runner)
    assert exp.plan().reused == 0
    results = exp.run(progress=False, verbose=False)
    exp.run(progress=False, verbose=False)
    assert fake.stats["requests"] == 6 and "rating" not in results.columns and results["call_id"].isna().all()
