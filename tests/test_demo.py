"""The five-minute demo's model choice (its first code cell): a presenter with a key but no network.

The cell is run as it stands in the notebook, with a key set and the SDK pointed at a
loopback port that never answers: it must fall back to the offline model, say so
visibly, and do it in seconds (issue 17: before, the probe waited through 6 attempts
of 120 s each).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from tests.test_failfast import blackhole  # noqa: F401 - a fixture: a loopback port that never answers

DEMO = Path(__file__).resolve().parents[1] / "notebooks" / "demos" / "five_minute_demo.ipynb"


def model_cell() -> str:
    nb = nbformat.read(DEMO, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "hosted = [" in c.source]
    assert len(cells) == 1, "the demo chooses its models in one cell"
    return cells[0]


def run_cell() -> tuple[dict, float]:
    namespace: dict = {}
    started = time.perf_counter()
    exec(compile(model_cell(), "demo-model-cell", "exec"), namespace)
    return namespace, time.perf_counter() - started


def test_unreachable_hosted_model_falls_back_with_a_note(monkeypatch, fresh_providers, blackhole):  # noqa: F811
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{blackhole}/v1")
    import openai  # noqa: F401 - imported first, so the timing is the cell's

    ns, elapsed = run_cell()
    assert ns["hosted"] == [] and ns["MODEL"] == "local:smollm2"
    assert "openai:gpt-4o-mini cannot be reached (ProviderConnectionError" in ns["note"]
    assert "runs on the offline model local:smollm2 only" in ns["note"]
    assert ns["probe"].attempts == 1  # "cannot connect" is not retried
    assert elapsed < 30.0  # one 5 s connect timeout, plus imports on a busy machine (was 6 x 120 s)


def test_no_key_says_how_to_add_a_hosted_model(fresh_providers):
    ns, _ = run_cell()
    assert ns["hosted"] == [] and "Set OPENAI_API_KEY or MISTRAL_API_KEY" in ns["note"]
