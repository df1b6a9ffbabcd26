"""Experiments through the OpenAI and Mistral batch APIs, against the loopback fake with the real SDKs:
submit, status, collect, partial failure, expiry, cancel, limits, resume (incl. SIGKILL), bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import PLANTED_KEY, point_sdks_at
from tests.fakebatch import BatchAPI
from tests.fakeserver import FakeServer
from workbench import _batch
from workbench._pricing import (
    batch_price_of,
    estimate_batch_cost,
    estimate_cost,
    price_of,
    set_batch_price,
)

REPO = Path(__file__).resolve().parents[1]
OPENAI = "openai:gpt-4o-mini"
MISTRAL = "mistral:mistral-small-latest"
PROMPT = wb.Prompt(system="Be brief.", user="Q: {q}")
CASES = pd.DataFrame({"id": [f"c{i}" for i in range(4)], "q": [f"question {i}" for i in range(4)],
                      "expected": [f"Echo: Q: question {i}" for i in range(4)]})


@pytest.fixture
def server(monkeypatch, fresh_providers):
    with FakeServer(api_key=PLANTED_KEY) as s:
        yield point_sdks_at(s, monkeypatch)


@pytest.fixture
def api(server):
    return BatchAPI.mount(server, process_s=0.3)


def _exp(runner, model=OPENAI, cases=CASES, **kw):
    kw.setdefault("params", {"max_tokens": 20, "temperature": 0.5})
    kw.setdefault("repeats", 2)
    return wb.Experiment({"p": PROMPT}, models=model, cases=cases, scorers=[wb.scorers.exact_match()],
                         runner=runner, **kw)


def _batch_posts(server):
    return [r for r in server.requests if r["method"] == "POST" and r["path"].rstrip("/").endswith(("/batches",
                                                                                                   "/batch/jobs"))]


# --- end to end, both providers ------------------------------------------------------------
@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_submit_returns_at_once_and_run_collects_the_same_rows_as_online(model, server, runner, log):
    api = BatchAPI.mount(server, process_s=2.0)
    exp = _exp(runner, model)
    job = exp.submit(verbose=False)
    status = job.status()
    assert len(status) == 1 and status.loc[0, "state"] in ("validating", "in_progress") and status.loc[0, "cells"] == 8
    assert status.loc[0, "total"] == 8 and not status.loc[0, "collected"]
    assert api.stats["batches_created"] == 1
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert len(results) == 8 and results["error"].isna().all()
    assert (results["output"] == "Echo: Q: " + results["q"]).all() and (results["exact_match"] == 1).all()
    # the same request bodies the online path sends: compare each line with an online call of the same cell
    line_bodies = {line["custom_id"]: line["body"] for line in api.input_lines(status.loc[0, "batch_id"])}
    online = wb.complete(model, PROMPT, q="question 0", max_tokens=20, temperature=0.5, cache=False, runner=runner)
    chat_body = [r for r in server.requests if r["path"].endswith("/chat/completions")][-1]["json"]
    cell = next(c for c in exp.cells if c.case_id == "c0" and c.repeat == 0)
    sent = line_bodies[cell.key]
    assert {k: v for k, v in chat_body.items() if k in sent} == sent and sent["messages"] == chat_body["messages"]
    assert online.text == results.loc[0, "output"]
    # the log rows look like online rows, priced at the batch price
    calls = log.calls(experiment_id=exp.experiment_id)
    assert len(calls) == 8 and set(calls["status"]) == {"ok"} and set(calls["cell_key"]) == {c.key for c in exp.cells}
    row = results.iloc[0]
    usage = wb.Usage(int(row.prompt_tokens), int(row.completion_tokens))
    assert row.cost_usd == pytest.approx(estimate_batch_cost(model, usage))
    assert row.cost_usd == pytest.approx(estimate_cost(model, usage) / 2)
    assert json.loads(calls.iloc[0]["request_json"])["batch_id"] == status.loc[0, "batch_id"]
    # a new Experiment with the same definition reuses everything: no second batch, no call
    again = _exp(runner, model).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert api.stats["batches_created"] == 1 and again["output"].tolist() == results["output"].tolist()
    assert job.status().loc[0, "state"] == "done" and job.status().loc[0, "collected"]


def test_plan_shows_online_and_batch(server, api, runner):
    exp = _exp(runner)
    text = repr(exp.plan())
    assert "8 calls" in text and "batch API: 8 calls in 1 batch" in text and "50% below online" in text
    assert "at most 24 h" in text
    assert exp.plan().batch.cost_usd == pytest.approx(exp.plan().cost_usd / 2)
    exp.submit(verbose=False)
    text = repr(exp.plan())
    assert "batch API: nothing to submit" in text and "already submitted: 8 calls in 1 batch" in text


def test_plan_of_an_offline_experiment_has_no_batch_line(runner):
    exp = wb.Experiment({"p": wb.Prompt(user="{q}")}, models="mock:m", cases=CASES, runner=runner)
    assert exp.plan().batch is None and "batch API" not in repr(exp.plan())


# --- partial failure, expiry, cancel, timeout -------------------------------------------------
def test_failed_lines_become_error_rows_and_only_they_are_resubmitted_when_asked(server, runner, log):
    api = BatchAPI.mount(server, process_s=0.05,
                         line_fault=lambda line: "context too long" if "question 1" in json.dumps(line) else None)
    exp = _exp(runner)
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    bad = results[results.case_id == "c1"]
    assert len(bad) == 2 and bad["error"].str.startswith("BadRequestError: context too long").all()
    assert results[results.case_id != "c1"]["error"].isna().all()
    assert exp.submit(verbose=False).submitted == [] and api.stats["batches_created"] == 1  # not without asking
    api.line_fault = None
    job = exp.submit(resubmit=True, verbose=False)
    assert len(job.submitted) == 1 and len(api.input_lines(job.submitted[0])) == 2
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].isna().all() and api.stats["batches_created"] == 2


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_expired_batch_keeps_its_answers_and_resubmits_only_the_missing_cells(model, server, runner):
    api = BatchAPI.mount(server, process_s=5.0, expire_after=0.5)
    exp = _exp(runner, model, cases=pd.concat([CASES] * 5, ignore_index=True).assign(id=[f"c{i}" for i in range(20)]))
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    expired = results["error"].fillna("").str.startswith("BatchExpiredError")
    assert 0 < expired.sum() < 40 and results[~expired]["error"].isna().all()
    api.expire_after = None
    api.process_s = 0.05
    job = exp.submit(resubmit=True, verbose=False)
    assert len(api.input_lines(job.submitted[0])) == expired.sum()
    assert exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_cancel_then_collect_what_was_done(model, server, runner):
    api = BatchAPI.mount(server, process_s=30.0)
    exp = _exp(runner, model)
    job = exp.submit(verbose=False)
    status = job.cancel()
    assert status.loc[0, "state"] in ("cancelling", "cancelled") and api.stats["cancels"] == 1
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].str.startswith("CancelledRunError").all()
    assert job.status().loc[0, "state"] == "cancelled" and api.stats["batches_created"] == 1


def test_timeout_returns_what_is_done_and_says_what_is_pending(server, runner, capsys):
    api = BatchAPI.mount(server, process_s=3600.0)
    exp = _exp(runner)
    results = exp.run(batch=True, timeout=0.3, progress=False, verbose=True, poll_s=0.05)
    assert len(results) == 8 and results["error"].str.contains("Not answered yet: pending in batch").all()
    assert results.attrs["batch_pending"] == 8 and "8 calls still pending in 1 batch(es)" in capsys.readouterr().out
    api.finish_all()
    results = _exp(runner).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].isna().all() and api.stats["batches_created"] == 1


# --- what is not submitted -------------------------------------------------------------------
def test_cells_answered_online_or_from_the_cache_are_not_submitted(server, api, runner):
    params = {"max_tokens": 20, "temperature": 0}  # cacheable
    _exp(runner, cases=CASES.iloc[:2], params=params, name="small").run(progress=False, verbose=False)
    big = _exp(runner, params=params, name="big")
    job = big.submit(verbose=False)
    lines = api.input_lines(job.submitted[0])
    assert len(lines) == 4 and {json.dumps(x["body"]["messages"]) for x in lines} == {
        json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q: question {i}"}])
        for i in (2, 3)}
    results = big.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].isna().all() and results["cached"].sum() == 4


def test_cells_the_experiment_answered_online_are_not_submitted(server, api, runner):
    server.script(["400", "400"])  # the first two online calls fail (not retried): only they are missing
    exp = _exp(runner)
    online = exp.run(progress=False, verbose=False)
    assert online["error"].notna().sum() == 2
    job = exp.submit(verbose=False)
    assert len(api.input_lines(job.submitted[0])) == 2
    assert exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()


# --- limits -------------------------------------------------------------------------------
def test_split_at_the_request_limit_one_batch_per_chunk(server, api, runner, monkeypatch):
    monkeypatch.setattr(_batch._OpenAIBackend, "max_requests", 3)
    exp = _exp(runner)  # 8 calls -> 3 + 3 + 2
    assert "8 calls in 3 batches" in repr(exp.plan())
    job = exp.submit(verbose=False)
    assert [len(api.input_lines(b)) for b in job.submitted] == [3, 3, 2] and api.stats["batches_created"] == 3
    assert exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()


def test_split_at_the_byte_limit(server, api, runner, monkeypatch):
    one_line = len(json.dumps(_batch.backend_for(OPENAI).line("k" * 24, _exp(runner).cells[0].request),
                              separators=(",", ":"))) + 1
    monkeypatch.setattr(_batch._OpenAIBackend, "max_bytes", one_line * 3)  # about three lines a file
    job = _exp(runner).submit(verbose=False)
    sizes = [len(api.input_lines(b)) for b in job.submitted]
    assert sum(sizes) == 8 and len(sizes) >= 3 and max(sizes) <= 3
    assert all(len(api.files[api.batches[b].input_file_id].data) <= one_line * 3 for b in job.submitted)


# --- bad input: named errors before any upload -------------------------------------------------
def test_models_without_a_batch_api_are_refused_before_any_request(server, api, runner, fresh_providers):
    wb.add_endpoint("ollama", server.openai_base_url, models=["m"])
    for model in ("mock:m", "ollama:m", [OPENAI, "mock:m"]):
        exp = _exp(runner, model)
        with pytest.raises(_batch.BatchUnsupportedError, match="has no batch API.*exp.run\\(\\)"):
            exp.submit(verbose=False)
        with pytest.raises(_batch.BatchUnsupportedError):
            exp.run(batch=True, progress=False, verbose=False)
    assert server.requests == [] and api.stats["files_uploaded"] == 0
    assert "batch API: not available for mock:m" in repr(_exp(runner, [OPENAI, "mock:m"]).plan())


def test_a_batch_the_provider_no_longer_knows_is_named(server, api, runner):
    exp = _exp(runner)
    job = exp.submit(verbose=False)
    api.forget()
    uploads = api.stats["files_uploaded"]
    with pytest.raises(_batch.BatchNotFoundError, match=f"does not know batch {job.submitted[0]}.*job.forget"):
        _exp(runner).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert api.stats["files_uploaded"] == uploads  # refused before any new upload
    job.forget()
    assert "batch API: 8 calls in 1 batch" in repr(_exp(runner).plan()) and "already submitted" not in repr(
        _exp(runner).plan())
    assert len(_exp(runner).submit(verbose=False).submitted) == 1  # its cells may now go again


def test_a_key_changed_between_submit_and_collect_is_named_and_never_shown(server, api, runner, log):
    exp = _exp(runner)
    exp.submit(verbose=False)
    sent = len(server.requests)
    other = "sk-wbtest-OTHER-KEY-0123456789abcdefXYZ"
    wb.set_key("OPENAI_API_KEY", other)
    with pytest.raises(_batch.BatchKeyChangedError, match="submitted with another OPENAI_API_KEY") as info:
        _exp(runner).run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert len(server.requests) == sent  # nothing was sent with the other key
    assert PLANTED_KEY not in str(info.value) and other not in str(info.value)
    wb.set_key("OPENAI_API_KEY", PLANTED_KEY)
    assert _exp(runner).run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()
    dump = "\n".join(log._conn.iterdump())
    assert PLANTED_KEY not in dump and other not in dump


def test_batch_mode_needs_a_run_log(server, api):
    exp = _exp(wb.Runner(log=False, progress=False))
    with pytest.raises(wb.RunLogError, match="Batch runs keep their batch ids"):
        exp.submit(verbose=False)
    assert server.requests == []


def test_budget_uses_the_batch_price(server, api, runner):
    exp = _exp(runner, budget_usd=1e-9)
    with pytest.raises(wb.BudgetExceededError, match="at the batch price"):
        exp.submit(verbose=False)
    assert api.stats["files_uploaded"] == 0


def test_batch_prices():
    assert batch_price_of(OPENAI) == (price_of(OPENAI)[0] / 2, price_of(OPENAI)[1] / 2)
    assert batch_price_of("local:smollm2") == (0.0, 0.0)
    set_batch_price("openai:gpt-4o", 1.0, 2.0)
    try:
        assert batch_price_of("openai:gpt-4o") == (1.0, 2.0)
    finally:
        from workbench._pricing import BATCH_PRICES

        BATCH_PRICES.pop("openai:gpt-4o")
    with pytest.raises(wb.ParamsError):
        set_batch_price(OPENAI, -1, 0)


# --- resume after SIGKILL between submit and collect ------------------------------------------
CHILD = textwrap.dedent("""
    import sys, time, pandas as pd
    import workbench as wb
    wb.set_key("OPENAI_API_KEY", sys.argv[2])
    runner = wb.Runner(log=sys.argv[1], progress=False)
    exp = wb.Experiment({"p": wb.Prompt(system="Be brief.", user="Q: {q}")}, models="openai:gpt-4o-mini",
                        params={"max_tokens": 20, "temperature": 0.5},
                        cases=pd.DataFrame({"id": [f"c{i}" for i in range(30)],
                                            "q": [f"question {i}" for i in range(30)]}),
                        repeats=2, runner=runner)
    job = exp.submit(verbose=False)
    print("SUBMITTED", len(job.submitted), flush=True)
    time.sleep(600)
""")


def test_sigkill_between_submit_and_collect_then_rerun_collects_without_a_second_batch(server, tmp_path, monkeypatch):
    monkeypatch.setattr(_batch._OpenAIBackend, "max_requests", 25)  # 60 calls -> 3 chunks
    api = BatchAPI.mount(server, process_s=0.5)
    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}",
           "OPENAI_BASE_URL": server.openai_base_url}
    env.pop("OPENAI_API_KEY", None)
    script = tmp_path / "child.py"
    script.write_text(  # the same chunk limit in the child: 60 calls -> 3 batches
        "import workbench._batch as b; b._OpenAIBackend.max_requests = 25\n" + CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(path), PLANTED_KEY], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("SUBMITTED 3"), line
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert api.stats["batches_created"] == 3
    runner = wb.Runner(log=path, progress=False)
    exp = wb.Experiment({"p": PROMPT}, models=OPENAI, params={"max_tokens": 20, "temperature": 0.5},
                        cases=pd.DataFrame({"id": [f"c{i}" for i in range(30)],
                                            "q": [f"question {i}" for i in range(30)]}),
                        repeats=2, runner=runner)
    assert "already submitted: 60 calls in 3 batches" in repr(exp.plan())
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert len(results) == 60 and results["error"].isna().all()
    assert (results["output"] == "Echo: Q: " + results["q"]).all()
    assert api.stats["batches_created"] == 3  # exactly one per chunk, none from the rerun
    assert runner.run_log.integrity_check() == "ok"


def test_sigkill_after_the_batch_was_created_but_before_it_was_logged(server, tmp_path):
    """The narrowest window: the provider made the batch, the process died before logging its id.
    The rerun finds it by the submission token in its metadata and adopts it."""
    api = BatchAPI.mount(server, process_s=0.2)
    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}",
           "OPENAI_BASE_URL": server.openai_base_url}
    script = tmp_path / "child.py"
    script.write_text("import os, signal, workbench._batch as b\n"
                      "b._adopt = lambda *a, **k: (print('CREATED', flush=True),"
                      " os.kill(os.getpid(), signal.SIGKILL))\n"
                      + CHILD)
    child = subprocess.run([sys.executable, str(script), str(path), PLANTED_KEY], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL and "CREATED" in child.stdout and "SUBMITTED" not in child.stdout
    assert api.stats["batches_created"] == 1
    runner = wb.Runner(log=path, progress=False)
    exp = wb.Experiment({"p": PROMPT}, models=OPENAI, params={"max_tokens": 20, "temperature": 0.5},
                        cases=pd.DataFrame({"id": [f"c{i}" for i in range(30)],
                                            "q": [f"question {i}" for i in range(30)]}),
                        repeats=2, runner=runner)
    assert "already submitted: 60 calls" in repr(exp.plan())  # held by the logged submission
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert len(results) == 60 and results["error"].isna().all() and api.stats["batches_created"] == 1
    assert [b["state"] for b in exp.batch_job().batches()] == ["done"]


@pytest.mark.parametrize("model", [OPENAI, MISTRAL])
def test_a_lost_create_response_is_recovered_and_a_create_that_never_happened_is_retried(model, server, api, runner,
                                                                                        monkeypatch):
    backend_class = type(_batch.backend_for(model))
    real_create = backend_class.create

    async def create_then_drop(self, *args, **kwargs):
        await real_create(self, *args, **kwargs)
        raise ConnectionError("connection reset while reading the response")

    monkeypatch.setattr(backend_class, "create", create_then_drop)
    with pytest.raises(wb.ProviderError, match="not submitted twice"):
        _exp(runner, model).submit(verbose=False)
    monkeypatch.setattr(backend_class, "create", real_create)
    job = _exp(runner, model).submit(verbose=False)  # finds the batch the provider made, submits nothing new
    assert job.submitted == [] and api.stats["batches_created"] == 1 and len(job.batches()) == 1
    assert _exp(runner, model).run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()

    async def never_arrives(self, *args, **kwargs):
        raise ConnectionError("connection refused")

    other = _exp(runner, model, name="other")
    monkeypatch.setattr(backend_class, "create", never_arrives)
    with pytest.raises(wb.ProviderError):
        other.submit(verbose=False)
    monkeypatch.setattr(backend_class, "create", real_create)
    assert other.submit(verbose=False).submitted == []  # too recent to give up: it may still be in flight
    monkeypatch.setattr(_batch, "INTENT_GRACE_S", 0.0)
    job = other.submit(verbose=False)
    assert len(job.submitted) == 1 and api.stats["batches_created"] == 2
    assert other.run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()


def test_two_submitters_at_once_make_one_batch(server, api, tmp_path, monkeypatch):
    """Both compute the same missing cells (a barrier makes sure), then claim them in the log: one batch."""
    import threading

    barrier = threading.Barrier(2, timeout=30)
    real = _batch._answer_from_cache

    def both_decided(exp, cells):
        rest = real(exp, cells)
        barrier.wait()
        return rest

    monkeypatch.setattr(_batch, "_answer_from_cache", both_decided)
    path = tmp_path / "shared.sqlite"
    jobs, errors = [], []

    def go():
        try:
            jobs.append(_exp(wb.Runner(log=path, progress=False)).submit(verbose=False))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(len(j.submitted) for j in jobs) == [0, 1]
    assert api.stats["batches_created"] == 1 and api.stats["files_uploaded"] == 1


def test_judges_score_collected_answers_online_and_pending_cells_are_not_judged(server, runner):
    def judge_or_echo(body):
        last = body["messages"][-1]["content"]
        return "SCORE: 4\nFine." if "Rubric:" in last else "Echo: " + last

    server.responder = judge_or_echo
    api = BatchAPI.mount(server, process_s=0.05)
    judge = wb.scorers.llm_judge("The answer repeats the question.", model=OPENAI)
    exp = wb.Experiment({"p": PROMPT}, models=OPENAI, cases=CASES, scorers=[judge], runner=runner,
                        params={"max_tokens": 20, "temperature": 0.5})
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].isna().all() and results[judge.name].notna().all()
    chats = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len(chats) == 4 and all("Rubric:" in r["json"]["messages"][-1]["content"] for r in chats)
    assert api.stats["batches_created"] == 1
    api.process_s = 3600.0
    more = wb.Experiment({"p": PROMPT}, models=OPENAI, cases=CASES, scorers=[judge], runner=runner,
                         params={"max_tokens": 21, "temperature": 0.5})
    pending = more.run(batch=True, timeout=0.2, progress=False, verbose=False, poll_s=0.05)
    assert pending["error"].str.contains("Not answered yet").all() and pending[judge.name].isna().all()
    assert len([r for r in server.requests if r["path"].endswith("/chat/completions")]) == 4  # no judge call


def test_a_batch_the_provider_rejects_gives_every_cell_an_error_row_with_its_reason(server, api, runner, monkeypatch):
    real_line = _batch._OpenAIBackend.line
    monkeypatch.setattr(_batch._OpenAIBackend, "line",
                        lambda self, cid, request: {**real_line(self, cid, request), "url": "/v1/embeddings"})
    exp = _exp(runner)
    results = exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)
    assert results["error"].str.contains("method must be POST and url must be /v1/chat/completions").all()
    assert results["error"].str.startswith("ProviderError").all()
    assert exp.batch_job().status().loc[0, "state"] == "failed"
    monkeypatch.setattr(_batch._OpenAIBackend, "line", real_line)
    assert len(exp.submit(resubmit=True, verbose=False).submitted) == 1
    assert exp.run(batch=True, progress=False, verbose=False, poll_s=0.05)["error"].isna().all()
