"""Course claims are measured, not asserted (issue 17): checks on the notebooks' lesson cells."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# asserts that held the tiny model's failures as expected results: a judge below kappa 0.4, most attacks winning,
# no confidence column better than chance
FAILURE_LOCKS = r"kappa\s*<\s*0\.\d|attack success rate\"\]\s*>=|<\s*0\.5\s*<\s*high"


def _code_cells(name: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _function(name: str, cell: str, namespace: dict) -> None:
    """Define the top-level function ``name`` of a notebook cell in ``namespace`` (without running the cell)."""
    tree = ast.parse(cell)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), name, "exec"), namespace)


def test_self_consistency_scores_truth_not_format():
    cell = next(c for c in _code_cells("05_reliability.ipynb") if "consistency = pd.DataFrame(rows)" in c)
    namespace: dict = {"re": re}
    _function("words", cell, namespace)
    _function("says", cell, namespace)
    says = namespace["says"]
    assert says("jupiter, which is the largest planet", "Jupiter")
    assert says("Leonardo da Vinci was the artist who", "Leonardo da Vinci")
    assert not says("0.0001", "0") and not says("the capital is sydney", "Canberra")


@pytest.mark.parametrize("name", ["03_patterns.ipynb", "05_reliability.ipynb", "06_probing_limits.ipynb"])
def test_claims_about_larger_models_run_or_say_what_was_not_measured(name):
    cells = _code_cells(name)
    assert any("STRONG = wb.stronger_model()" in c for c in cells[:1])
    strong = [c for c in cells if "if STRONG is None:" in c]
    assert strong and all("Not measured" in c for c in strong)


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("0[0-8]_*.ipynb")))
def test_no_assert_locks_in_the_tiny_models_failures(name):
    for cell in _code_cells(name):
        asserts = [line for line in cell.splitlines() if line.strip().startswith("assert")]
        locked = [a for a in asserts if re.search(FAILURE_LOCKS, a)]
        assert not locked, locked
