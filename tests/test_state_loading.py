"""Issue 18, item 10: the first run of a model that must be loaded says so, with the file's size.

Instead of "streaming…" over an empty box while the model loads, the answer
shows "Loading the model… (NN MB)" until the model is in memory; then the
answer streams as usual. The size is the real GGUF file's.
"""

from __future__ import annotations

import asyncio

import pytest

from workbench import testing
from workbench.providers._local import LocalProvider, smollm2_path
from workbench.state import PlaygroundState
from workbench.state.base import loading_notice


@pytest.fixture
def slow_loading_mock(monkeypatch):
    """The mock provider, made to need a 0.4-s load of a 123-MB model before its first call."""
    provider = testing.mock_provider()
    loaded: list[bool] = []

    async def warm_up(model: str) -> None:
        if not loaded:
            await asyncio.sleep(0.4)
            loaded.append(True)

    monkeypatch.setattr(provider, "warm_up", warm_up)
    monkeypatch.setattr(provider, "pending_load_bytes", lambda model: None if loaded else 123_000_000)
    return testing.script("loads", ["Owls hunt at night."])


def test_first_run_says_the_model_is_loading_then_streams(slow_loading_mock, runner):
    s = PlaygroundState("Tell me about owls.", slow_loading_mock, runner=runner)
    seen: list[tuple[str | None, str, str]] = []
    s.observe(lambda name: seen.append((s.answer.loading, s.status_text(), s.answer.text))
              if name == "answer" else None)
    s.run(timeout=10)
    loading = [x for x in seen if x[0]]
    assert loading, seen
    assert loading[0] == ("Loading the model… (123 MB, once per session)", "loading the model…", "")
    assert all(text == "" for _, _, text in loading)  # the notice goes before the first token is shown
    assert seen[-1][0] is None and seen[-1][2] == "Owls hunt at night." and s.status_text().startswith("done in")
    assert s.answer.response is not None and s.answer.response.load_s >= 0.35  # the load, apart from latency

    s.user = "Tell me about bats."
    seen.clear()
    s.run(timeout=10)
    assert not any(x[0] for x in seen)  # loaded once: no notice again


def test_no_notice_for_a_model_that_needs_no_load(runner):
    assert loading_notice(testing.script("plain", [])) is None
    assert loading_notice("nosuch:model") is None  # the run itself reports an unknown provider


@pytest.mark.local_model
def test_local_model_reports_its_gguf_size_until_loaded():
    provider = LocalProvider()
    size = smollm2_path().stat().st_size
    assert provider.pending_load_bytes("smollm2") == size > 50_000_000
    assert provider.pending_load_bytes("no-such-model") is None
    asyncio.run(provider.warm_up("smollm2"))
    assert provider.pending_load_bytes("smollm2") is None
