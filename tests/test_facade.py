"""The public facade ``workbench/__init__.py``: what it exports, and that type checkers see all of it."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import workbench as wb

INIT = Path(wb.__file__)

# Changing the public API is a decision: update this list on purpose, in the same commit.
EXPECTED = [
    "AuthenticationError", "BadRequestError", "BatchError", "BatchExpiredError", "BatchJob", "BatchKeyChangedError",
    "BatchNotFoundError", "BatchPendingError", "BatchPlan", "BatchUnsupportedError", "BudgetExceededError",
    "CancelledRunError", "CasesError", "Compare", "Comparison", "ContextWindowError", "Experiment",
    "ExperimentPlan", "KeyInNotebookWarning", "MalformedResponseError", "MissingDependencyError", "MissingKeyError",
    "ModelNotFoundError", "PRICES_AS_OF", "Params", "ParamsError", "Playground", "Prompt", "PromptError",
    "ProviderConnectionError", "ProviderError", "ProviderTimeoutError", "RateLimitError", "Request", "Response",
    "RunLog", "RunLogError", "Runner", "ScorerError", "ServerError", "StreamInterruptedError", "Sweep",
    "TruncatedResponseError",
    "UnsupportedParamError", "Usage", "Version", "WorkbenchError", "__version__", "acomplete", "add_endpoint",
    "add_local_model", "add_model", "agreement", "astream", "batch_price_of", "build_request", "compare",
    "complete", "configure", "default_model", "estimate_batch_cost", "estimate_cost", "exercises", "get_runner",
    "models", "pass_at_k", "plots", "price_of", "repeat_variance", "report_html", "results_to_csv",
    "results_to_json", "scan_notebook", "scorers", "set_batch_price", "set_key", "set_price", "stream", "summarize",
    "testing", "to_promptfoo", "watch_cells",
    # issue 12: conversations, tools and structured output
    "ResponseFormat", "SchemaError", "Tool", "ToolCall", "ToolError", "ToolLoopError", "tool",
    "Chat",
    # issue 17: answers grounded in sources
    "check_citations", "format_sources",
    # issue 15: measured prompt improvement
    "Improve", "Improvement", "ReviewCases", "generate_cases", "improve", "split_cases",
    # issue 13: the token lens
    "Branch", "Calibration", "Confidence", "Token", "TokenSplit", "TokenView", "TokensError", "branch",
    "calibration", "coverage_curve", "tokenize",
    # issue 17: the course's model in one place
    "course_model", "stronger_model",
    # issue 17: stronger local models from a catalog
    "local_models",
]


def _tree() -> ast.Module:
    return ast.parse(INIT.read_text(encoding="utf-8"))


def _exports_dict(tree: ast.Module) -> ast.Dict:
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "_EXPORTS":
            assert isinstance(node.value, ast.Dict)
            return node.value
    raise AssertionError("workbench/__init__.py has no _EXPORTS dict")


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """Name -> module (relative, as in _EXPORTS) for every import in the ``if TYPE_CHECKING:`` block."""
    blocks = [node for node in tree.body
              if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, "expected one `if TYPE_CHECKING:` block at the top level"
    names: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom), f"line {node.lineno}: only `from . import ...` belongs here"
        for alias in node.names:
            assert alias.name != "*", f"line {node.lineno}: a star import hides the names from this check"
            name = alias.asname or alias.name
            module = "." * node.level + (node.module or alias.name)  # `from . import plots` imports .plots
            assert name not in names, f"{name} is imported twice"
            names[name] = module
    return names


def test_all_is_pinned():
    assert wb.__all__ == sorted(EXPECTED)
    assert sorted(dir(wb)) == sorted(EXPECTED)


def test_one_export_per_line():
    exports = _exports_dict(_tree())
    lines = [key.lineno for key in exports.keys]
    assert len(lines) == len(set(lines)), "put each export of _EXPORTS on its own line"


def test_type_checking_block_covers_every_export_from_its_module():
    tree = _tree()
    exports = _exports_dict(tree)
    declared = {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(exports.keys, exports.values, strict=True)}
    seen = _type_checking_imports(tree)
    assert sorted(set(declared) - set(seen)) == [], "exports that type checkers and editors would see as Any"
    assert sorted(set(seen) - set(declared)) == [], "imported for type checkers but not exported"
    assert {n: m for n, m in seen.items() if declared[n] != m} == {}, "imported from another module than exported"


@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "__version__"])
def test_every_lazy_export_resolves_to_what_its_module_defines(name):
    module = importlib.import_module(wb._EXPORTS[name], "workbench")
    value = getattr(wb, name)
    assert value is (module if wb._EXPORTS[name] == "." + name else getattr(module, name))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Playgrund'"):
        wb.Playgrund  # noqa: B018 - the attribute access is the test


def test_testing_is_exported_lazily():
    code = "import sys, workbench; print('workbench.testing' in sys.modules); workbench.testing.script; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "ok"]
