"""Shared fixtures: a private run log and runner per test, no leaked session state."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import workbench as wb
from tests.fakeserver import FakeServer
from workbench import testing

#: The key the keyed fake server wants; tests look for it wherever it must not appear.
PLANTED_KEY = "sk-wbtest-PLANTED-0123456789abcdefXYZ"


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` every 10 ms; whether it came true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """No session keys, provider instances or default runner survive a test."""
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "default-runs.sqlite"))
    monkeypatch.chdir(tmp_path)  # no stray .env file is found above the test
    testing.reset(providers=False)
    yield
    testing.reset(providers=False)


@pytest.fixture
def log(tmp_path) -> wb.RunLog:
    return wb.RunLog(tmp_path / "runs.sqlite")


@pytest.fixture
def runner(log) -> wb.Runner:
    return wb.Runner(log=log, progress=False, max_wait=2.0)


@pytest.fixture
def fresh_providers():
    """Provider instances, endpoints and extra models created inside the test are dropped after it."""
    testing.reset()
    yield
    testing.reset()


def point_sdks_at(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """Send the openai and mistralai SDKs to ``server``, with PLANTED_KEY as both keys."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.mistral_base_url)
    wb.set_key("OPENAI_API_KEY", PLANTED_KEY)
    wb.set_key("MISTRAL_API_KEY", PLANTED_KEY)
    return server


@pytest.fixture
def keyed_fake():
    """A fake OpenAI-compatible server that streams word by word and wants PLANTED_KEY."""
    with FakeServer(api_key=PLANTED_KEY, chunk_delay=0.002) as server:
        yield server


@pytest.fixture
def fake_model(keyed_fake, fresh_providers):
    """``fakeapi:fake-model``: an endpoint needing the key in ``FAKEAPI_KEY`` (not set)."""
    wb.add_endpoint("fakeapi", keyed_fake.openai_base_url, models=["fake-model"], key_env="FAKEAPI_KEY")
    return "fakeapi:fake-model"
