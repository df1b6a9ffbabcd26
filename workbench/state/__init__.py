"""The widgets' plain state (no ipywidgets here): one module per concern.

Everything a widget does (validate, run, stream, stop, rate, save a version,
diff, load, sweep, plot) is a method of a state object in this package, so
it can be called from code and tested without a browser; the views in
:mod:`workbench.widgets` only copy values between widgets and these objects.

==================  =========================================================
``playground.py``   :class:`PlaygroundState`: one prompt, one model, versions
``compare.py``      :class:`CompareState` and its :class:`Variant` columns
``sweep.py``        :class:`SweepState`, :class:`SweepPoint`, measures, values
``call_extras.py``  tools, response format, conversations in Compare and Sweep
``base.py``         what they share: runner and log, the one run path, Stop,
                    ratings, keys (:class:`RunningState`)
``answer.py``       :class:`Answer`: streamed text per sample, then the response
``observable.py``   :class:`Observable` (listeners) and :class:`Throttle`
``inputs.py``       typed text to checked inputs; errors to one line
``params_form.py``  :class:`ParamSpec` per parameter, from the schema
``versions.py``     version labels and diffs (:class:`VersionDiff`)
``cards.py``        static text/HTML summaries for saved notebooks
==================  =========================================================
"""

from __future__ import annotations

from .answer import Answer, Status
from .base import RunningState
from .compare import MAX_VARIANTS, CompareState, Variant
from .inputs import friendly_error, variables_in
from .observable import Observable, Throttle
from .params_form import ParamSpec, build_params, param_specs
from .playground import PlaygroundState
from .sweep import (
    DEFAULT_SWEEPS,
    MAX_SWEEP_CALLS,
    MEASURES,
    SWEEPABLE,
    SweepPoint,
    SweepState,
    parse_sweep_values,
)
from .versions import VersionDiff, diff_versions, version_label

__all__ = [
    "Answer",
    "CompareState",
    "DEFAULT_SWEEPS",
    "MAX_SWEEP_CALLS",
    "MAX_VARIANTS",
    "MEASURES",
    "Observable",
    "ParamSpec",
    "PlaygroundState",
    "RunningState",
    "SWEEPABLE",
    "Status",
    "SweepPoint",
    "SweepState",
    "Throttle",
    "Variant",
    "VersionDiff",
    "build_params",
    "diff_versions",
    "friendly_error",
    "param_specs",
    "parse_sweep_values",
    "variables_in",
    "version_label",
]
