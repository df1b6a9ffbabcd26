"""Issue 11, item 16 (the rest): an unreachable endpoint refused when added, a truncated response named
as one, invalid UTF-8 treated alike by both providers, cancelled rows that say which experiment they were."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer
from workbench._portal import run_sync, submit


@pytest.mark.parametrize(("name", "url", "says"), [
    ("a:b", "http://localhost:1/v1", "cannot be used in a model string"),
    ("x", "http://a:b", "not a valid URL"),
    ("x", "http://", "names no host"),
    ("x", "http:///v1", "names no host"),
    ("x", "a:b", "not an http(s) URL"),
])
def test_an_endpoint_that_cannot_be_reached_or_named_is_refused(fresh_providers, name, url, says):
    with pytest.raises(wb.ModelNotFoundError, match="Fix:") as info:
        wb.add_endpoint(name, url)
    assert says in str(info.value)


@pytest.fixture
def server(monkeypatch, fresh_providers):
    with FakeServer(api_key=None) as s:
        monkeypatch.setenv("MISTRAL_SERVER_URL", s.mistral_base_url)
        wb.set_key("MISTRAL_API_KEY", "test-key-0123456789")
        wb.add_endpoint("fake", s.openai_base_url, models=["fake-model"])
        yield s


def _call(server: FakeServer, model: str, fault: str, stream: bool) -> wb.Response:
    runner = wb.Runner(log=None, progress=False, max_retries=0)
    server.script([fault])
    request = runner.prepare(model, wb.Prompt(user="one two three four five six seven eight"))
    return run_sync(runner.call(request, **({"on_delta": lambda d: None} if stream else {})))


@pytest.mark.parametrize("model", ["fake:fake-model", "mistral:mistral-small-latest"])
def test_a_truncated_response_is_named_so_not_a_network_problem(server, model):
    response = _call(server, model, "cut", stream=False)
    assert response.error_type == "TruncatedResponseError", response.error
    assert "truncated response" in response.error and "Could not reach" not in response.error
    assert issubclass(wb.TruncatedResponseError, wb.ProviderError) and wb.TruncatedResponseError.retryable
    streamed = _call(server, model, "cut", stream=True)  # cut mid-stream: the partial answer is named as such
    assert streamed.error_type == "StreamInterruptedError" and "mid-answer" in streamed.error


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["fake:fake-model", "mistral:mistral-small-latest"])
def test_invalid_utf8_is_one_behaviour_for_both_providers(server, model, stream):
    """Documented choice: an answer that is not UTF-8 is a MalformedResponseError (retried), never a text
    with replacement characters scored as if the model had said it."""
    response = _call(server, model, "badutf8", stream=stream)
    assert response.error_type == "MalformedResponseError", (response.error_type, response.error, response.text)
    assert "not valid UTF-8" in response.error and "\ufffd" not in (response.text or "")
    retried = wb.Runner(log=None, progress=False, max_retries=1, max_wait=0.1)
    server.script(["badutf8"])
    again = run_sync(retried.call(retried.prepare(model, wb.Prompt(user="one two"))))
    assert again.ok and again.text == "Echo: one two" and again.attempts == 2


def test_cancelled_rows_carry_their_experiment(tmp_path, fresh_providers):
    with FakeServer(api_key=None, latency=3.0) as s:
        wb.add_endpoint("fake", s.openai_base_url, models=["fake-model"])
        log = wb.RunLog(tmp_path / "runs.sqlite")
        exp = wb.Experiment(wb.Prompt(user="{q}"), models="fake:fake-model",
                            cases=pd.DataFrame({"q": ["a", "b", "c"]}),
                            runner=wb.Runner(log=log, progress=False, max_retries=0))
        future = submit(exp.arun(progress=False, verbose=False))
        deadline = time.monotonic() + 20
        while s.stats.get("requests", 0) < 3 and time.monotonic() < deadline and not future.done():
            time.sleep(0.05)
        future.cancel()
        time.sleep(0.5)
    log.flush()
    rows = log.calls()
    cancelled = rows[rows["error_type"] == "CancelledRunError"]
    assert len(cancelled) == 3, rows[["error_type", "experiment_id"]]
    assert (cancelled["experiment_id"] == exp.experiment_id).all() and cancelled["cell_key"].notna().all()
