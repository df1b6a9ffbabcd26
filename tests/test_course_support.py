"""Public helpers the course notebooks rely on (beyond the core API)."""

from __future__ import annotations

import pytest

import workbench as wb


def test_price_lookup_and_cost_estimate_are_public():
    assert wb.price_of("local:smollm2") == (0.0, 0.0)
    inp, out = wb.price_of("openai:gpt-4o-mini")
    assert 0 < inp < out
    assert wb.price_of("openai:not-a-listed-model") is None
    usage = wb.Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert wb.estimate_cost("openai:gpt-4o-mini", usage) == pytest.approx(inp + out)
    assert wb.estimate_cost("openai:not-a-listed-model", usage) is None
    assert wb.estimate_cost("local:smollm2", usage) == 0.0


def test_set_price_changes_the_estimate(monkeypatch):
    from workbench import _pricing

    monkeypatch.setattr(_pricing, "PRICES", dict(_pricing.PRICES))
    wb.set_price("openai:my-finetune", 1.0, 2.0)
    assert wb.price_of("openai:my-finetune") == (1.0, 2.0)
    assert wb.estimate_cost("openai:my-finetune", wb.Usage(500_000, 250_000)) == pytest.approx(1.0)


def test_exercises_is_a_lazily_imported_submodule():
    import subprocess
    import sys

    code = ("import sys, workbench as wb; assert 'workbench.exercises' not in sys.modules; "
            "m = wb.exercises; assert m.__name__ == 'workbench.exercises' and callable(m.check); "
            "assert 'exercises' in dir(wb)")
    subprocess.run([sys.executable, "-c", code], check=True)
