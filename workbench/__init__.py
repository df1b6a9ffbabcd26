"""prompt-workbench: edit, run, compare and measure prompts in Jupyter.

>>> import workbench as wb
>>> p = wb.Prompt(system="You are terse.", user="Translate to French: {text}")
>>> r = wb.complete("local:smollm2", p, text="Good morning", seed=1)  # doctest: +SKIP

Names are imported lazily (on first attribute access), so ``import workbench``
is instant and no SDK, llama.cpp, pandas or matplotlib is loaded until used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # prompts, parameters, responses
    "Prompt": "._prompt",
    "Params": "._params",
    "Request": "._types",
    "Response": "._types",
    "Usage": "._types",
    # calling models
    "complete": "._api",
    "acomplete": "._api",
    "stream": "._api",
    "astream": "._api",
    "build_request": "._api",
    "Runner": "._runner",
    "get_runner": "._runner",
    "configure": "._runner",
    # models and keys
    "models": ".providers",
    "default_model": ".providers",
    "course_model": ".providers",
    "stronger_model": ".providers",
    "add_endpoint": ".providers",
    "add_local_model": ".providers",
    "local_models": "._models",
    "add_model": ".providers",
    "set_key": "._keys",
    "scan_notebook": "._hygiene",
    "watch_cells": "._hygiene",
    "KeyInNotebookWarning": "._hygiene",
    "set_price": "._pricing",
    "PRICES_AS_OF": "._pricing",
    "price_of": "._pricing",
    "estimate_cost": "._pricing",
    "set_batch_price": "._pricing",
    "batch_price_of": "._pricing",
    "estimate_batch_cost": "._pricing",
    # the run log
    "RunLog": "._log",
    "Version": "._log",
    # interactive widgets (issue 3); ipywidgets is imported on first use only
    "Playground": ".widgets",
    "Chat": ".widgets",
    "Compare": ".widgets",
    "Sweep": ".widgets",
    "Improve": ".widgets",
    "ReviewCases": ".widgets",
    # errors
    "WorkbenchError": "._errors",
    "PromptError": "._errors",
    "ContextWindowError": "._errors",
    "ParamsError": "._errors",
    "UnsupportedParamError": "._errors",
    "ModelNotFoundError": "._errors",
    "MissingKeyError": "._errors",
    "MissingDependencyError": "._errors",
    "RunLogError": "._errors",
    "BudgetExceededError": "._errors",
    "CasesError": "._errors",
    "ScorerError": "._errors",
    "ProviderError": "._errors",
    "RateLimitError": "._errors",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "ServerError": "._errors",
    "ProviderTimeoutError": "._errors",
    "ProviderConnectionError": "._errors",
    "StreamInterruptedError": "._errors",
    "TruncatedResponseError": "._errors",
    "MalformedResponseError": "._errors",
    "CancelledRunError": "._errors",
    "BatchError": "._errors",
    "BatchUnsupportedError": "._errors",
    "BatchNotFoundError": "._errors",
    "BatchKeyChangedError": "._errors",
    "BatchExpiredError": "._errors",
    "BatchPendingError": "._errors",
    "TokensError": "._errors",
    # the token lens (issue 13): token probabilities, alternatives, branching, temperature, prompt tokens
    "Token": "._tokens",
    "Confidence": "._tokens",
    "TokenView": ".widgets",
    "tokenize": "._lens",
    "TokenSplit": "._lens",
    "Branch": "._lens",
    "branch": "._lens",
    "calibration": "._calibration",
    "Calibration": "._calibration",
    "coverage_curve": "._calibration",
    # graded exercises of the course notebooks (issue 5): a submodule, wb.exercises.check(...)
    "exercises": ".exercises",
    # experiments, scorers, statistics, plots, export (issue 4)
    "Experiment": "._experiment",
    "ExperimentPlan": "._experiment",
    # the providers' batch APIs (issue 14): exp.submit() returns a BatchJob
    "BatchJob": "._batch",
    "BatchPlan": "._batch",
    "scorers": ".scorers",
    "plots": ".plots",
    "compare": "._stats",
    "Comparison": "._stats",
    "summarize": "._stats",
    "pass_at_k": "._stats",
    "repeat_variance": "._stats",
    "agreement": "._stats",
    "results_to_csv": "._export",
    "results_to_json": "._export",
    "report_html": "._export",
    "to_promptfoo": "._export",
    # measured prompt improvement and generated test cases (issue 15)
    "improve": "._improve",
    "Improvement": "._improve",
    "split_cases": "._improve",
    "generate_cases": "._casegen",
    # scripted mock models and session resets, for testing code built on the workbench: a submodule
    "testing": ".testing",
    # conversations, tools and structured output (issue 12)
    "tool": "._tools",
    "Tool": "._tools",
    "ToolCall": "._tools",
    "ResponseFormat": "._structured",
    "SchemaError": "._errors",
    "ToolError": "._errors",
    "ToolLoopError": "._conversation",
    # answers grounded in given sources, citations checked in code (issue 17)
    "format_sources": "._citations",
    "check_citations": "._citations",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    imported = importlib.import_module(module, __name__)
    value = imported if module == "." + name else getattr(imported, name)  # a submodule (wb.scorers, wb.plots)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs; nothing is imported at run time (tests/test_facade.py checks it)
    from . import exercises, plots, scorers, testing
    from ._api import acomplete, astream, build_request, complete, stream
    from ._batch import BatchJob, BatchPlan
    from ._calibration import Calibration, calibration, coverage_curve
    from ._casegen import generate_cases
    from ._citations import check_citations, format_sources
    from ._conversation import ToolLoopError
    from ._errors import (
        AuthenticationError,
        BadRequestError,
        BatchError,
        BatchExpiredError,
        BatchKeyChangedError,
        BatchNotFoundError,
        BatchPendingError,
        BatchUnsupportedError,
        BudgetExceededError,
        CancelledRunError,
        CasesError,
        ContextWindowError,
        MalformedResponseError,
        MissingDependencyError,
        MissingKeyError,
        ModelNotFoundError,
        ParamsError,
        PromptError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitError,
        RunLogError,
        SchemaError,
        ScorerError,
        ServerError,
        StreamInterruptedError,
        TokensError,
        ToolError,
        TruncatedResponseError,
        UnsupportedParamError,
        WorkbenchError,
    )
    from ._experiment import Experiment, ExperimentPlan
    from ._export import report_html, results_to_csv, results_to_json, to_promptfoo
    from ._hygiene import KeyInNotebookWarning, scan_notebook, watch_cells
    from ._improve import Improvement, improve, split_cases
    from ._keys import set_key
    from ._lens import Branch, TokenSplit, branch, tokenize
    from ._log import RunLog, Version
    from ._models import local_models
    from ._params import Params
    from ._pricing import (
        PRICES_AS_OF,
        batch_price_of,
        estimate_batch_cost,
        estimate_cost,
        price_of,
        set_batch_price,
        set_price,
    )
    from ._prompt import Prompt
    from ._runner import Runner, configure, get_runner
    from ._stats import Comparison, agreement, compare, pass_at_k, repeat_variance, summarize
    from ._structured import ResponseFormat
    from ._tokens import Confidence, Token
    from ._tools import Tool, ToolCall, tool
    from ._types import Request, Response, Usage
    from .providers import add_endpoint, add_local_model, add_model, course_model, default_model, models, stronger_model
    from .widgets import Chat, Compare, Improve, Playground, ReviewCases, Sweep, TokenView
