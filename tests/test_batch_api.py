"""The batch engine's public surface: the facade and error hierarchy, the SupportsBatch protocol,
``await exp.arun(batch=True)`` and the progress bar's per-batch state (issue 14)."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import PLANTED_KEY, point_sdks_at
from tests.fakebatch import BatchAPI
from tests.fakeserver import FakeServer
from workbench import _batch
from workbench.providers import resolve
from workbench.providers._batching import SupportsBatch, batch_api_of

OPENAI = "openai:gpt-4o-mini"
MISTRAL = "mistral:mistral-small-latest"
PROMPT = wb.Prompt(system="Be brief.", user="Q: {q}")
CASES = pd.DataFrame({"id": [f"c{i}" for i in range(3)], "q": [f"question {i}" for i in range(3)]})


@pytest.fixture
def server(monkeypatch, fresh_providers):
    with FakeServer(api_key=PLANTED_KEY) as s:
        yield point_sdks_at(s, monkeypatch)


def _exp(runner, model=OPENAI, **kw):
    return wb.Experiment({"p": PROMPT}, models=model, cases=CASES, params={"max_tokens": 20, "temperature": 0.5},
                         runner=runner, **kw)


# --- facade and errors ------------------------------------------------------------------------
def test_batch_names_are_public_and_the_errors_are_workbench_errors():
    assert wb.BatchJob is _batch.BatchJob and wb.BatchPlan is _batch.BatchPlan
    for name in ("BatchUnsupportedError", "BatchNotFoundError", "BatchKeyChangedError", "BatchExpiredError",
                 "BatchPendingError"):
        cls = getattr(wb, name)
        assert issubclass(cls, wb.BatchError) and issubclass(cls, wb.WorkbenchError)
    assert _batch.BatchUnsupportedError is wb.BatchUnsupportedError  # one class, raised where it was before
    assert wb.batch_price_of(OPENAI) == (wb.price_of(OPENAI)[0] / 2, wb.price_of(OPENAI)[1] / 2)
    assert wb.estimate_batch_cost(OPENAI, wb.Usage(1_000_000, 0)) == pytest.approx(wb.price_of(OPENAI)[0] / 2)


def test_error_types_of_result_rows_name_real_classes(server, runner):
    BatchAPI.mount(server, process_s=3600.0)
    results = _exp(runner).run(batch=True, timeout=0.2, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].str.startswith("BatchPendingError: ").all() and hasattr(wb, "BatchPendingError")
    assert results["error"].str.contains("Fix: run exp.run\\(batch=True\\) again later").all()


# --- SupportsBatch ------------------------------------------------------------------------------
def test_openai_and_mistral_implement_supports_batch_and_the_others_do_not(fresh_providers, tmp_path):
    wb.add_endpoint("vllm", "http://127.0.0.1:9/v1", models=["m"])
    assert batch_api_of(resolve(OPENAI)[0]) == "openai" and isinstance(resolve(OPENAI)[0], SupportsBatch)
    assert batch_api_of(resolve(MISTRAL)[0]) == "mistral" and isinstance(resolve(MISTRAL)[0], SupportsBatch)
    assert batch_api_of(resolve("vllm:m")[0]) is None  # builds OpenAI requests, but has no batch API
    assert not isinstance(resolve("mock:m")[0], SupportsBatch)
    assert not isinstance(resolve("local:smollm2")[0], SupportsBatch)


def test_a_provider_without_the_protocol_is_refused_before_any_call_naming_the_online_run(fresh_providers, runner):
    for model, kind in (("mock:m", "the in-process mock"), ("local:smollm2", "the offline model")):
        with pytest.raises(wb.BatchUnsupportedError, match=f"{model} has no batch API \\({kind};.*exp.run\\(\\)"):
            _exp(runner, model).submit(verbose=False)
        assert runner.run_log.calls().empty


def test_the_batch_body_is_built_by_the_provider_the_online_path_uses(server):
    """The parameter mapping is the provider's: max_tokens is OpenAI's max_completion_tokens, Mistral's
    max_tokens; seed is Mistral's random_seed."""
    request = wb.build_request(OPENAI, PROMPT, q="x", max_tokens=7, seed=3)
    body = _batch.backend_for(OPENAI).body(request)
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body and body["seed"] == 3
    request = wb.build_request(MISTRAL, PROMPT, q="x", max_tokens=7, seed=3)
    body = _batch.backend_for(MISTRAL).body(request)
    assert body["max_tokens"] == 7 and body["random_seed"] == 3 and "seed" not in body


# --- arun(batch=True) ----------------------------------------------------------------------------
@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_arun_batch_awaits_without_blocking_the_callers_loop(model, server, runner):
    api = BatchAPI.mount(server, process_s=0.6)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        beat = asyncio.ensure_future(ticker())
        try:
            results = await _exp(runner, model).arun(batch=True, progress=False, verbose=False, poll_s=0.05)
        finally:
            beat.cancel()
        return results, ticks

    results, ticks = asyncio.run(main())
    assert len(results) == 3 and results["error"].isna().all() and (results["output"] == "Echo: Q: " +
                                                                     results["q"]).all()
    assert ticks >= 10  # the loop ran other work while the batch was processed (0.6 s)
    assert api.stats["batches_created"] == 1
    again = asyncio.run(_exp(runner, model).arun(batch=True, progress=False, verbose=False, poll_s=0.05))
    assert again["output"].tolist() == results["output"].tolist() and api.stats["batches_created"] == 1


def test_arun_batch_timeout_returns_what_is_done_like_run(server, runner):
    BatchAPI.mount(server, process_s=3600.0)
    results = asyncio.run(_exp(runner).arun(batch=True, timeout=0.2, progress=False, verbose=False, poll_s=0.05))
    assert results.attrs["batch_pending"] == 3 and results["error"].str.contains("Not answered yet").all()


def test_cancelling_the_awaiting_task_stops_the_wait_and_a_later_run_collects(server, runner):
    api = BatchAPI.mount(server, process_s=3600.0)
    stopped: list[float] = []
    real_wait = _batch.BatchJob.wait

    def timed_wait(self, **kw):
        try:
            return real_wait(self, **kw)
        finally:
            stopped.append(time.monotonic())

    async def main():
        task = asyncio.ensure_future(_exp(runner).arun(batch=True, progress=False, verbose=False, poll_s=0.05))
        await asyncio.sleep(0.5)
        task.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return cancelled_at

    _batch.BatchJob.wait = timed_wait
    try:
        cancelled_at = asyncio.run(main())
        deadline = time.monotonic() + 10
        while not stopped and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        _batch.BatchJob.wait = real_wait
    assert stopped and stopped[0] - cancelled_at < 2.0  # the worker's wait ended soon after, not after an hour
    assert api.stats["batches_created"] == 1 and api.stats["cancels"] == 0  # the batch itself keeps running
    api.finish_all()
    results = _exp(runner).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].isna().all() and api.stats["batches_created"] == 1


# --- the progress bar shows each batch's state ------------------------------------------------------
def test_progress_text_names_each_state_with_its_batches_and_counts():
    infos = [_batch.BatchInfo("b1", "in_progress", "in_progress", 5000, 1190, 10),
             _batch.BatchInfo("b2", "validating", "validating", 5000),
             _batch.BatchInfo("b3", "in_progress", "in_progress", 5000, 10, 0),
             _batch.BatchInfo("b4", "done", "completed", 2500, 2497, 3),
             _batch.BatchInfo("b5", "expired", "expired", 100, 40, 60)]
    assert _batch.progress_text(infos) == ("validating 1 (0/5,000) · in progress 2 (1,210/10,000, 10 failed) · "
                                           "done 1 (2,500/2,500, 3 failed) · expired 1 (100/100, 60 failed)")
    assert _batch.progress_text([]) == "submitting"


class _Bar:
    """Records what the wait shows (tqdm.auto's interface, as far as wait() uses it)."""

    instances: list[_Bar] = []

    def __init__(self, total: int) -> None:
        self.total, self.n, self.shown = total, 0, []
        _Bar.instances.append(self)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def refresh(self) -> None:
        self.shown.append((self.n, self.postfix))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_run_batch_progress_shows_the_batch_states_as_they_change(model, server, runner, monkeypatch):
    BatchAPI.mount(server, validate_s=1.5, process_s=1.0)
    monkeypatch.setattr(_batch, "_make_bar", _Bar)
    monkeypatch.setattr(_batch._OpenAIBackend, "max_requests", 2)  # 3 calls -> 2 batches (OpenAI)
    _Bar.instances.clear()
    results = _exp(runner, model).run(batch=True, progress=True, verbose=False, poll_s=0.05)
    assert results["error"].isna().all()
    (bar,) = _Bar.instances
    texts = [t for _, t in bar.shown]
    n_batches = 2 if model == OPENAI else 1
    assert bar.total == 3 and bar.closed
    assert texts[0].startswith(f"validating {n_batches}")
    assert any(t.startswith("in progress") for t in texts)
    assert texts[-1] == f"done {n_batches} (3/3)" and bar.shown[-1][0] == 3
    assert [n for n, _ in bar.shown] == sorted(n for n, _ in bar.shown)  # the count never goes back


def test_job_wait_stop_event_ends_the_wait_at_the_next_poll(server, runner):
    BatchAPI.mount(server, process_s=3600.0)
    exp = _exp(runner)
    job = exp.submit(verbose=False)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert job.wait(progress=False, poll_s=0.05, stop=stop) is False
    assert time.monotonic() - started < 3.0 and job.pending() == 3


# --- budget: the judges that grade batch answers online count too ---------------------------------
def test_batch_budget_counts_the_online_judge_calls_before_any_upload(server, runner):
    api = BatchAPI.mount(server, process_s=0.05)
    judge = wb.scorers.llm_judge("The answer names a city.", model=OPENAI, params={"max_tokens": 200})

    def exp(budget):
        return wb.Experiment({"p": PROMPT}, models=OPENAI, cases=CASES, scorers=[judge], runner=runner,
                             params={"max_tokens": 20, "temperature": 0.5}, budget_usd=budget)

    plan = exp(None).plan()
    batch_cost = plan.batch.cost_usd
    judge_cost = plan.cost_usd - plan.batch.online_cost_usd  # the online plan = the calls + their judges
    assert batch_cost > 0 and judge_cost > 0
    with pytest.raises(wb.BudgetExceededError, match="3 online judge calls.*above budget_usd.*fewer judges"):
        exp(batch_cost + judge_cost / 2).submit(verbose=False)
    assert api.stats["files_uploaded"] == 0 and server.requests == []
    assert len(exp((batch_cost + judge_cost) * 1.01).submit(verbose=False).submitted) == 1


def test_record_many_writes_every_row_and_returns_their_ids(log):
    request = wb.build_request("mock:m", wb.Prompt(user="{q}"), q="x")
    rows = [(request, wb.Response(text=f"answer {i}", model="mock:m", provider="mock"), "exp1", f"cell{i}")
            for i in range(5)]
    ids = log.record_many(rows)
    calls = log.calls(experiment_id="exp1")
    assert len(ids) == len(set(ids)) == 5 and sorted(calls["id"].tolist()) == sorted(ids)
    assert sorted(calls["cell_key"]) == [f"cell{i}" for i in range(5)] and log.record_many([]) == []
