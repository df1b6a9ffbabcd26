"""A key set but no network: the real SDKs fail in seconds, once, with a message naming the fix (issue 17).

Two loopback stand-ins for "no network": a closed port (connection refused) and a
blackhole, a listening socket whose accept queue is full, so a new connection gets no
answer at all (as when packets are dropped). Before the fix the blackhole took the
runner's whole 120 s timeout per attempt, six attempts.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

import workbench as wb
from tests.conftest import PLANTED_KEY, point_sdks_at
from tests.fakeserver import FakeServer
from workbench.providers._connect import cannot_connect, connect_timeout

MODELS = {"openai": "openai:gpt-4o-mini", "mistral": "mistral:mistral-small-latest"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def blackhole():
    """A loopback port that never completes a handshake: its backlog is filled and nothing accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(server.getsockname())
        fillers.append(c)
    time.sleep(0.1)
    try:
        socket.create_connection(server.getsockname(), timeout=0.5).close()
        pytest.fail("the blackhole accepted a connection; this kernel queues more than the backlog")
    except TimeoutError:
        pass
    yield server.getsockname()[1]
    for c in fillers:
        c.close()
    server.close()


def point_at(monkeypatch, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("MISTRAL_API_KEY", "test-not-real")
    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    monkeypatch.setenv("MISTRAL_SERVER_URL", url)


def call(provider: str, log) -> tuple[float, wb.Response]:
    runner = wb.Runner(log=log, progress=False)  # the defaults: 5 retries, 120 s timeout
    assert runner.max_retries == 5 and runner.timeout == 120
    started = time.perf_counter()
    r = wb.complete(MODELS[provider], "hi", runner=runner, raise_errors=False)
    return time.perf_counter() - started, r


@pytest.fixture
def sdks_loaded():
    """Import both SDKs first, so a timing measures the call and not the import."""
    import mistralai  # noqa: F401
    import openai  # noqa: F401


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_connection_refused_fails_at_once_without_retries(provider, monkeypatch, fresh_providers, log, sdks_loaded):
    point_at(monkeypatch, closed_port())
    elapsed, r = call(provider, log)
    assert r.error_type == "ProviderConnectionError" and r.attempts == 1
    assert elapsed < connect_timeout()  # refused at once: no connect timeout waited, no retry (was 9 s, 6 tries)
    assert "connection refused" in r.error and "Not retried" in r.error and "'local:smollm2'" in r.error


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_no_answer_to_connect_fails_after_the_connect_timeout(provider, monkeypatch, fresh_providers, log,
                                                                blackhole, sdks_loaded):
    point_at(monkeypatch, blackhole)
    elapsed, r = call(provider, log)
    assert connect_timeout() == 5.0
    assert r.error_type == "ProviderConnectionError" and r.attempts == 1
    assert 4.5 < elapsed < 9.0  # the 5 s connect timeout once, not 6 x 120 s
    assert "no answer to the connection within 5 s" in r.error and "WORKBENCH_MODEL=local:smollm2" in r.error


def test_connect_timeout_is_configurable(monkeypatch, fresh_providers, log, blackhole, sdks_loaded):
    monkeypatch.setenv("WORKBENCH_CONNECT_TIMEOUT", "1")
    point_at(monkeypatch, blackhole)
    elapsed, r = call("openai", log)
    assert r.attempts == 1 and elapsed < 3.0 and "within 1 s" in r.error


def test_a_slow_answer_is_not_cut_by_the_connect_timeout(monkeypatch, fresh_providers, log, sdks_loaded):
    """Only connecting is capped: an answer that takes longer than the connect timeout still arrives."""
    monkeypatch.setenv("WORKBENCH_CONNECT_TIMEOUT", "0.5")
    with FakeServer(latency=1.5, api_key=PLANTED_KEY) as server:
        point_sdks_at(server, monkeypatch)
        for provider in ("openai", "mistral"):
            elapsed, r = call(provider, log)
            assert r.ok and r.attempts == 1 and elapsed >= 1.5, (provider, r.error)


def test_server_errors_and_read_timeouts_are_still_retried(monkeypatch, fresh_providers, log, sdks_loaded):
    with FakeServer(api_key=PLANTED_KEY) as server:
        point_sdks_at(server, monkeypatch)
        server.script(["503", "timeout:3", "ok"])
        runner = wb.Runner(log=log, progress=False, timeout=1.0, max_wait=0.1)
        r = wb.complete("openai:gpt-4o-mini", "hi", runner=runner, raise_errors=False)
        assert r.ok and r.attempts == 3 and r.retried == ["ServerError", "ProviderTimeoutError"]


def test_cannot_connect_reads_the_cause_chain():
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        try:
            raise refused
        except OSError as inner:
            raise OSError("All connection attempts failed") from inner
    except OSError as outer:
        wrapped = type("ConnectError", (Exception,), {})("All connection attempts failed")
        wrapped.__cause__ = outer
    assert cannot_connect(wrapped) == "connection refused: nothing listens at that address"
    assert cannot_connect(socket.gaierror(-2, "Name or service not known")).startswith("the server's name")
    assert cannot_connect(ConnectionResetError("reset by peer")) is None  # the server was reached
    assert cannot_connect(TimeoutError("read timed out")) is None
