"""Experiments: prompt variants x models x parameter grid x cases x repeats, scored.

An experiment is a plan of *cells*, one per call. Every cell is validated
offline when the experiment is built (``Runner.prepare``), so a typo in a
template or a cases table fails before any money is spent. Each cell has a
stable ``cell_key`` derived from what is sent (variant, the request's cache
key, case id), and the experiment an ``experiment_id`` (its name, or a hash of
its content). The runner logs each call with both as it completes; running
again loads what the log already has and calls only the missing cells, which
is how an interrupted experiment resumes.

Scoring happens after the calls, through the one scoring protocol
(:mod:`workbench._scoring`): LLM judges as a second batch through the same
runner (so they are concurrent, cached, logged and resumable too), other
async scorers (``async def``, or objects with ``ascore``) concurrently in the
event loop, and plain scorers in the caller's thread (with :meth:`Experiment.arun`,
in a worker thread, so the loop is never blocked).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import itertools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._batch import BatchJob, arun_batch, plan_batch, run_batch, submit
from ._calibration import CONFIDENCE_COLUMNS, confidence_columns
from ._errors import BudgetExceededError, CasesError, ParamsError, PromptError, ScorerError
from ._keys import redact_frame, redact_obj
from ._params import PARAM_NAMES, Params
from ._portal import run_sync
from ._pricing import DEFAULT_OUTPUT_TOKENS, cost_of, estimate_tokens, price_of, request_tokens
from ._prompt import Prompt, _surrogate_at, as_prompt
from ._runner import NO_CALLS, CacheMode, Runner, get_runner
from ._scoring import Score, ascore, is_async_scorer, score, scorer_name, to_score
from ._structured import as_response_format
from ._tool_scorers import RESPONSE_KEY
from ._tools import as_tools
from ._types import Request, Response
from .providers import default_model, resolve
from .scorers import LLMJudge, custom

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Experiment", "ExperimentPlan", "DEFAULT_OUTPUT_TOKENS", "load_cases"]

#: At most this many answers are scored at once by async scorers (their model calls also
#: pass through the runner's per-provider limits).
SCORING_CONCURRENCY = 16
RESERVED = frozenset({"experiment_id", "variant", "model", "case_id", "repeat", "output", "expected", "prompt_tokens",
                      "completion_tokens", "reasoning_tokens", "cached_tokens", "latency_s", "cost_usd", "cached",
                      "error", "call_id", "rating", "id", "finish_reason", "tool_calls", "parsed", "parse_error",
                      *PARAM_NAMES, *CONFIDENCE_COLUMNS})
#: A case column holding earlier turns (a list of (role, text) pairs or message dicts, or that list as JSON
#: text): they go before the prompt's user message, taken literally.
HISTORY_COLUMN = "history"


@dataclass(frozen=True)
class Cell:
    """One planned call."""

    variant: str
    model: str
    params: dict[str, Any]
    case_id: Any
    case: dict[str, Any]
    repeat: int
    request: Request
    key: str


@dataclass(frozen=True)
class ExperimentPlan:
    """What running the experiment will do and cost, known before any call.

    ``cost_usd`` is ``None`` when some model has no known price (never a
    misleading 0); ``unknown_price`` names those models. Tokens are estimated
    from text length (~4 characters a token) and ``max_tokens`` (or
    ``DEFAULT_OUTPUT_TOKENS``) for the answers, so the cost is an upper-end estimate.
    """

    experiment_id: str
    shape: str
    calls: int
    reused: int
    to_run: int
    judge_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    unknown_price: tuple[str, ...] = ()
    by_model: dict[str, float | None] = field(default_factory=dict)
    budget_usd: float | None = None
    #: The batch-API alternative (``workbench._batch.BatchPlan``), when a model has a batch API.
    batch: Any = None

    def cost_text(self) -> str:
        if self.cost_usd is None:
            return f"unknown (no price for {', '.join(self.unknown_price)}; set one with wb.set_price)"
        return f"${self.cost_usd:.4f}"

    def __repr__(self) -> str:
        lines = [
            f"Experiment {self.experiment_id}: {self.shape} = {self.calls} calls",
            f"  already in the log: {self.reused} (reused) · to run: {self.to_run}"
            + (f" · judge calls: up to {self.judge_calls}" if self.judge_calls else ""),
            f"  estimated tokens: ~{self.prompt_tokens:,} in, ~{self.completion_tokens:,} out",
            f"  estimated cost: {self.cost_text()}"
            + (f" (budget ${self.budget_usd:.2f})" if self.budget_usd is not None else ""),
        ]
        if self.batch is not None:
            lines.append(repr(self.batch))
        return "\n".join(lines)


# --- inputs --------------------------------------------------------------------------
def _variants(prompts: Any) -> dict[str, Prompt]:
    """``{"v1": p1}``, a list of prompts, or one prompt -> ordered ``{name: Prompt}``."""
    if isinstance(prompts, Mapping):
        items = [(str(k), v) for k, v in prompts.items()]
    elif isinstance(prompts, (Prompt, str)):
        p = as_prompt(prompts, template=True)
        items = [(p.name or "prompt", p)]
    elif isinstance(prompts, Sequence) and prompts and not isinstance(prompts[0], Mapping):
        items = [(getattr(p, "name", None) or f"v{i}", p) for i, p in enumerate(prompts, 1)]
    else:
        items = [("prompt", prompts)]
    if not items:
        raise PromptError("An experiment needs at least one prompt. Fix: prompts={'v1': wb.Prompt(user='...')}.")
    out = {name: as_prompt(p, template=True) for name, p in items}
    if len(out) != len(items):
        raise PromptError("Two prompt variants have the same name. Fix: give each a distinct name (a dict's keys).")
    return out


def _models(models: Any) -> list[str]:
    names = [models] if isinstance(models, str) else list(models or [default_model()])
    if not names:
        raise ParamsError("models=[] lists no model. Fix: e.g. models=['local:smollm2'].")
    for m in names:
        resolve(m)
    return list(dict.fromkeys(names))


def _grid(params: Mapping[str, Any] | Params | None) -> tuple[list[str], list[dict[str, Any]]]:
    """Parameter names and every combination; lists are swept, scalars fixed (``stop`` lists are fixed)."""
    if params is None:
        return [], [{}]
    if isinstance(params, Params):
        fixed = params.set()
        return list(fixed), [fixed]
    names, axes = [], []
    for name, value in params.items():
        swept = isinstance(value, (list, tuple)) and not (
            name == "stop" and all(isinstance(v, str) for v in value))
        values = list(value) if swept else [value]
        if not values:
            raise ParamsError(f"params[{name!r}] is an empty list. Fix: give at least one value, e.g. [0, 0.7].")
        names.append(name)
        axes.append(values)
    combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
    for combo in combos:
        Params.build(**combo)  # an unknown name or a value out of range fails here, before any call
    return names, combos


def load_cases(cases: Any) -> pd.DataFrame:
    """Cases as a DataFrame indexed by case id (the ``id`` column, else the row index)."""
    import pandas as pd

    if cases is None:
        return pd.DataFrame(index=pd.Index([0], name="case_id"))
    if isinstance(cases, (str, Path)):
        frame = _read_cases_file(Path(cases))
    elif isinstance(cases, pd.DataFrame):
        frame = cases.copy()
    elif isinstance(cases, Sequence) and all(isinstance(c, Mapping) for c in cases):
        frame = pd.DataFrame(list(cases))
    else:
        raise CasesError("cases must be a pandas DataFrame, a CSV path or a list of dicts, "
                         f"not {type(cases).__name__}. "
                         "Fix: e.g. cases=pd.DataFrame({'text': [...], 'expected': [...]}).")
    if frame.empty:
        raise CasesError("The cases table has no rows. Fix: add at least one case.")
    frame.columns = [str(c) for c in frame.columns]
    if "id" in frame.columns:
        frame = frame.set_index("id")
    if not frame.index.is_unique:
        dupes = sorted(map(str, frame.index[frame.index.duplicated()].unique()))[:5]
        raise CasesError(f"Case ids must be unique; repeated: {dupes}. Fix: make the 'id' column unique or drop it.")
    frame.index.name = "case_id"
    return frame


def _read_cases_file(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise CasesError(f"Cases file {str(path)!r} does not exist. Fix: check the path (relative to {Path.cwd()}).")
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        # text stays text: "007" and "3.10" must reach the prompt exactly as written
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CasesError(f"Cannot read cases file {str(path)!r}: {exc}. "
                         "Fix: save it as UTF-8 CSV with a header row.") from None


def _check_columns(cases: pd.DataFrame, prompts: Mapping[str, Prompt]) -> None:
    columns = list(cases.columns)
    problems = []
    for name, prompt in prompts.items():
        missing = [v for v in prompt.variable_order if v not in columns]
        if missing:
            hints = "".join(f" (did you mean {c[0]!r} for {m!r}?)"
                            for m in missing if (c := difflib.get_close_matches(m, columns, n=1)))
            problems.append(f"prompt {name!r} needs column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(map(repr, missing))}{hints}")
    if problems:
        raise CasesError(f"The cases table lacks columns: {'; '.join(problems)}. Columns present: {columns or 'none'}. "
                         "Fix: add or rename those columns (one column per prompt {variable}).")
    clash = sorted(set(columns) & (RESERVED - {"expected"}))
    if clash:
        raise CasesError(f"Case column(s) {clash} clash with result columns of the same name. "
                         "Fix: rename them in the cases table (and in the prompts' {variables}).")


def _check_case_text(cases: pd.DataFrame) -> None:
    """A lone surrogate in any cell (or id) cannot be sent, hashed or logged: name the case and column now."""
    for case_id, row in cases.iterrows():
        for column, value in [("id", case_id), *row.items()]:
            if isinstance(value, str) and (at := _surrogate_at(value)) is not None:
                raise CasesError(
                    f"Case {case_id!r}, column {column!r} holds a lone surrogate {value[at]!r} at position {at} "
                    "(half of a broken character), which cannot be sent. Fix: repair that cell, e.g. "
                    "text.encode('utf-8', 'replace').decode('utf-8').")


def _scorers(scorers: Any, cases: pd.DataFrame) -> list[Any]:
    """The scorers, each with a ``.name``: a bare function (plain or async) is wrapped with
    ``wb.scorers.custom``, so it may take ``(output)`` or ``(output, case)``."""
    given = [scorers] if callable(scorers) else list(scorers or [])
    items, names = [], []
    for s in given:
        if not callable(s) and not callable(getattr(s, "ascore", None)):
            raise ScorerError(f"{s!r} is not a scorer (a function of the answer, plain or async). "
                              "Fix: use wb.scorers.<factory>(...), a function (output, case) -> score, "
                              "or wb.scorers.custom(your_function).")
        if not getattr(s, "name", None) and not callable(s):
            raise ScorerError(f"The scorer {s!r} has an ascore method but no .name (the results column). "
                              "Fix: give it a name attribute.")
        if not getattr(s, "name", None):
            s = custom(s, name=scorer_name(s), needs_expected=bool(getattr(s, "needs_expected", False)))
        name = s.name
        items.append(s)
        if getattr(s, "needs_expected", False) and "expected" not in cases.columns:
            raise CasesError(f"Scorer {name!r} compares answers with each case's expected answer, but the cases have "
                             "no 'expected' column. Fix: add an 'expected' column, or give the scorer its target.")
        names.append(name)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorerError(f"Two scorers are named {dupes}. Fix: pass name='...' to one of them.")
    clash = sorted(set(names) & (RESERVED | set(cases.columns)))
    if clash:
        raise ScorerError(f"Scorer name(s) {clash} clash with other result columns. Fix: pass name='...'.")
    _check_derived_columns(names, cases)
    return items


def _check_derived_columns(names: list[str], cases: pd.DataFrame) -> None:
    """Each scorer adds ``<name>``, ``<name>_passed`` and ``<name>_explanation``; none may be another
    scorer's column, a case column or a fixed result column (``fmt`` and ``fmt_passed`` would overwrite)."""
    owner: dict[str, str] = {str(c): "a case column" for c in cases.columns}
    owner.update({c: "a fixed result column" for c in RESERVED})
    problems = []
    for name in names:
        for column, role in ((name, "score"), (f"{name}_passed", "pass/fail"), (f"{name}_explanation", "explanation")):
            other = owner.get(column)
            if other is not None:
                problems.append(f"{column!r} is the {role} column of scorer {name!r} and also {other}")
            owner[column] = f"the {role} column of scorer {name!r}"
    if problems:
        raise ScorerError(f"Scorer names clash with result columns: {'; '.join(problems)}. "
                          "Fix: rename one of them (pass name='...' to the scorer, or rename the case column).")


#: The answer a plain scorer is tried on before any call (see :func:`_probe_scorers`).
_PROBE_ANSWER = "probe"


def _probe_scorers(scorers: list[Any], case: Mapping[str, Any]) -> None:
    """Try each plain-function scorer once on a stand-in answer, so one returning something that is
    not a score (a string, a list) is refused before any call is paid for, not after the grid.
    A scorer that raises on the stand-in is not judged: it may need a real answer."""
    for s in scorers:
        if not getattr(s, "probe", False) or is_async_scorer(s):
            continue
        token = NO_CALLS.set("while a scorer is tried on a stand-in answer")  # a scorer calling a model stops here
        try:
            result = s.fn(_PROBE_ANSWER, case)
        except Exception:  # noqa: BLE001 - the stand-in answer may be what it rejects; real answers decide
            continue
        finally:
            NO_CALLS.reset(token)
        try:
            to_score(result, s.name)
        except ScorerError as err:
            raise ScorerError(f"{err} (Found by trying it on a stand-in answer before any call.)") from None


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()[:n]


# --- the experiment ------------------------------------------------------------------
class Experiment:
    """Prompt variants x models x parameter grid x cases x repeats, run, logged and scored.

    >>> exp = Experiment(prompts={"v1": p1, "v2": p2}, models=["local:smollm2"],
    ...                  params={"temperature": [0, 0.7], "max_tokens": 32},
    ...                  cases="cases.csv", scorers=[wb.scorers.label_match()], repeats=3)  # doctest: +SKIP
    >>> exp.plan()       # calls, reuse from the log, estimated tokens and cost   # doctest: +SKIP
    >>> results = exp.run()                                                         # doctest: +SKIP

    ``params`` values that are lists are swept (their product is the grid);
    scalars are fixed. ``cases`` is a DataFrame, a CSV path or a list of dicts
    with one column per prompt variable, optionally ``expected`` and ``id``;
    other columns are kept in the results but not sent. ``name`` is also the
    experiment id in the log (else a hash of the content), so rerunning the same
    experiment, or a grown one, only calls what is missing. ``budget_usd``
    refuses to start when the estimated cost is above it (or unknown).
    ``cache`` is passed to the runner for the calls that are not in the log yet.
    """

    def __init__(self, prompts: Any, models: str | Sequence[str] | None = None,
                 params: Mapping[str, Any] | Params | None = None, cases: Any = None, scorers: Any = (),
                 repeats: int = 1, *, name: str | None = None, budget_usd: float | None = None,
                 runner: Runner | None = None, cache: CacheMode | None = None, resume: bool = True,
                 tools: Any = None, response_format: Any = None) -> None:
        if not isinstance(repeats, int) or repeats < 1:
            raise ParamsError(f"repeats={repeats!r} is not allowed. Fix: a whole number from 1, e.g. repeats=3.")
        if budget_usd is not None and (isinstance(budget_usd, bool) or not isinstance(budget_usd, numbers.Real)
                                       or math.isnan(budget_usd)):
            raise ParamsError(f"budget_usd={budget_usd!r} is not a number of US dollars. "
                              "Fix: give a budget in USD, e.g. budget_usd=1.0 (or None for no budget).")
        if budget_usd is not None and budget_usd < 0:
            raise ParamsError(f"budget_usd={budget_usd!r} is negative. Fix: give a budget in USD, e.g. 1.0.")
        self.prompts = _variants(prompts)
        self.tools = as_tools(tools)
        self.response_format = as_response_format(response_format)
        self.models = _models(models)
        self.param_names, self.grid = _grid(params)
        self.cases = load_cases(cases)
        _check_columns(self.cases, self.prompts)
        _check_case_text(self.cases)
        self.scorers = _scorers(scorers, self.cases)
        _probe_scorers(self.scorers, self._first_case())
        self.repeats = repeats
        self.name = name
        self.budget_usd = budget_usd
        self.runner = runner or get_runner()
        self.cache = cache
        self.resume = resume
        self.experiment_id = name or "exp-" + _hash(self.config())
        self._check_judges()
        self.cells = self._build_cells()
        self.last_run: dict[str, int] = {}
        self._judge_stats: dict[str, int] = {}

    # --- structure ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """What defines the experiment (also saved in the log's experiments table)."""
        return {
            "prompts": {k: p.to_dict() for k, p in self.prompts.items()},
            "models": self.models,
            "grid": self.grid,
            "cases": json.loads(self.cases.reset_index().to_json(orient="records", force_ascii=False)),
            "scorers": [getattr(s, "name", "?") for s in self.scorers],
            "repeats": self.repeats,
            **({"tools": [t.spec() for t in self.tools]} if self.tools else {}),
            **({"response_format": self.response_format.spec()} if self.response_format is not None else {}),
        }

    @property
    def judges(self) -> list[LLMJudge]:
        return [s for s in self.scorers if isinstance(s, LLMJudge)]

    def _first_case(self) -> dict[str, Any]:
        """The first case as a scorer sees it (its variables and ``expected``), for the scorer probe."""
        if self.cases.empty:
            return {}
        return {str(k): _plain(v) for k, v in self.cases.iloc[0].items()}

    def _check_judges(self) -> None:
        for judge in self.judges:  # model, key and parameters of each judge, before any call
            judge.request("x", {"expected": "x"}, self.runner)

    def _build_cells(self) -> list[Cell]:
        cells = []
        for variant, prompt in self.prompts.items():
            for model in self.models:
                for combo in self.grid:
                    params = Params.build(**combo)
                    for case_id, row in self.cases.iterrows():
                        case = {str(k): _plain(v) for k, v in row.items()}  # str already (load_cases)
                        for repeat in range(self.repeats):
                            cells.append(self._cell(variant, prompt, model, combo, params, case_id, case, repeat))
        return cells

    def _cell(self, variant: str, prompt: Prompt, model: str, combo: dict[str, Any], params: Params,
              case_id: Any, case: dict[str, Any], repeat: int) -> Cell:
        variables = {k: case[k] for k in prompt.variable_order}
        tags = {"variant": variant, "case_id": _plain(case_id), "repeat": repeat, **combo}
        try:
            if case.get(HISTORY_COLUMN) is not None:
                prompt = with_history(prompt, case[HISTORY_COLUMN], case_id)
            request = self.runner.prepare(model, prompt, variables, params, repeat=repeat, tags=tags,
                                          tools=self.tools, response_format=self.response_format)
        except PromptError as exc:
            if isinstance(exc, CasesError):
                raise
            raise CasesError(f"Case {case_id!r} does not fit prompt {variant!r}: {exc}") from None
        key = _hash({"variant": variant, "request": request.cache_key, "case_id": _plain(case_id)}, 24)
        return Cell(variant, model, dict(combo), _plain(case_id), case, repeat, request, key)

    def shape(self) -> str:
        parts = [(len(self.prompts), "variant"), (len(self.models), "model"), (len(self.grid), "setting"),
                 (len(self.cases), "case"), (self.repeats, "repeat")]
        return " x ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in parts)

    def __repr__(self) -> str:
        return f"<Experiment {self.experiment_id}: {self.shape()} = {len(self.cells)} calls>"

    # --- planning -------------------------------------------------------------------
    def _logged(self) -> dict[str, Response]:
        log = self.runner.run_log
        if log is None or not self.resume:
            return {}
        return log.experiment_results(self.experiment_id)

    def plan(self) -> ExperimentPlan:
        """Number of calls, how many the log already has, estimated tokens and cost (no call is made)."""
        logged = self._logged()
        todo = [c for c in self.cells if c.key not in logged]
        tokens_in = tokens_out = 0
        by_model: dict[str, float | None] = {}
        for cell in todo:
            t_in, t_out = request_tokens(cell.request)
            tokens_in, tokens_out = tokens_in + t_in, tokens_out + t_out
            _add_cost(by_model, cell.model, t_in, t_out)
        judge_calls, judge_in, judge_out = self._judge_estimate(todo, by_model)
        tokens_in, tokens_out = tokens_in + judge_in, tokens_out + judge_out
        unknown = tuple(m for m, c in by_model.items() if c is None)
        cost = None if unknown else sum(c for c in by_model.values() if c is not None)
        return ExperimentPlan(self.experiment_id, self.shape(), len(self.cells), len(self.cells) - len(todo), len(todo),
                              judge_calls, tokens_in, tokens_out, cost, unknown, by_model, self.budget_usd,
                              plan_batch(self, todo))

    def _judge_estimate(self, todo: Sequence[Cell], by_model: dict[str, float | None]) -> tuple[int, int, int]:
        """The LLM judges' calls for ``todo``: (calls, tokens in, tokens out), their cost added to ``by_model``.

        Shared by :meth:`plan` and the batch budget check (judges grade batch answers online)."""
        calls = tokens_in = tokens_out = 0
        for judge in self.judges:
            template_chars = len(str(judge.prompt)) + len(judge.rubric)
            for cell in todo:
                t_in = estimate_tokens(template_chars + sum(len(str(v)) for v in cell.case.values()), 2)
                t_in += request_tokens(cell.request)[1]  # the answer being graded
                t_out = int(judge.params.get("max_tokens") or DEFAULT_OUTPUT_TOKENS)
                tokens_in, tokens_out = tokens_in + t_in, tokens_out + t_out
                _add_cost(by_model, judge.judge_model, t_in, t_out)
            calls += len(todo)
        return calls, tokens_in, tokens_out

    def check_budget(self, plan: ExperimentPlan | None = None) -> ExperimentPlan:
        """Raise :class:`BudgetExceededError` if the estimate is above ``budget_usd`` (or unknown)."""
        plan = plan or self.plan()
        if self.budget_usd is None:
            return plan
        what = f"{plan.to_run} calls" + (f" and up to {plan.judge_calls} judge calls" if plan.judge_calls else "")
        if plan.cost_usd is None:
            raise BudgetExceededError(
                f"Cannot keep this experiment ({what}) within budget_usd={self.budget_usd:g}: the price of "
                f"{', '.join(plan.unknown_price)} is unknown. Fix: set it with wb.set_price(model, usd_per_mtok_in, "
                "usd_per_mtok_out), or drop budget_usd.")
        if plan.cost_usd > self.budget_usd:
            raise BudgetExceededError(
                f"This experiment would make {what}, estimated at ${plan.cost_usd:.4f} "
                f"(~{plan.prompt_tokens:,} tokens in, ~{plan.completion_tokens:,} out), above budget_usd="
                f"{self.budget_usd:g}. Fix: raise budget_usd, or use fewer cases, repeats, models or variants, "
                "or set a lower max_tokens.")
        return plan

    # --- batch APIs (workbench/_batch.py) ----------------------------------------------
    def submit(self, *, resubmit: bool = False, verbose: bool = True) -> BatchJob:
        """Submit the missing calls to the providers' batch APIs and return a ``BatchJob`` at once.

        Cells already answered or already in a batch are never submitted; cells an expired, cancelled
        or failed batch left unanswered are submitted again only with ``resubmit=True``.
        """
        return submit(self, resubmit=resubmit, verbose=verbose)

    def batch_job(self) -> BatchJob:
        """The ``BatchJob`` of this experiment's batches in the run log (``.status()``, ``.cancel()``, ...)."""
        return BatchJob(self)

    # --- running --------------------------------------------------------------------
    def run(self, *, progress: bool = True, verbose: bool = True, batch: bool = False, timeout: float | None = None,
            poll_s: float | None = None) -> pd.DataFrame:
        """Run what is missing, score everything and return the tidy results (one row per call).

        Safe inside a running Jupyter kernel: the calls run in the workbench's
        event-loop thread, while the progress bar, the printing and the plain
        scorers run here, in the caller's thread (so a scorer may itself call
        ``wb.complete``).

        ``batch=True`` runs the calls through the providers' batch APIs instead: submits what is
        missing (unless already submitted), waits up to ``timeout`` seconds (``None``: until done)
        polling every ``poll_s`` seconds (default: 1 s growing to 30 s), collects, and returns the
        same table; calls still pending have ``error`` "Not answered yet".
        """
        if batch:
            return run_batch(self, timeout=timeout, progress=progress, verbose=verbose, poll_s=poll_s)
        plan = self.check_budget()
        if verbose:
            print(repr(plan))
        bar = _make_bar(plan.to_run + plan.judge_calls) if progress else None
        try:
            responses, scored, todo = run_sync(self._calls(bar, plain_in_loop=False))
        finally:
            if bar is not None:
                bar.close()
        return self._finish(responses, {**self._score_plain(responses), **scored}, todo, verbose)

    async def arun(self, *, progress: bool = True, verbose: bool = True, batch: bool = False,
                   timeout: float | None = None, poll_s: float | None = None) -> pd.DataFrame:
        """Async twin of :meth:`run`, for code already inside an event loop.

        ``batch=True`` is :meth:`run` ``(batch=True)`` awaited: the wait for the batches runs in a
        worker thread, so the caller's loop (a notebook's) keeps serving other cells and widgets.
        """
        if batch:
            return await arun_batch(self, timeout=timeout, progress=progress, verbose=verbose, poll_s=poll_s)
        plan = self.check_budget()
        if verbose:
            print(repr(plan))
        bar = _make_bar(plan.to_run + plan.judge_calls) if progress else None
        try:
            responses, scored, todo = await self._calls(bar, plain_in_loop=True)
        finally:
            if bar is not None:
                bar.close()
        return self._finish(responses, scored, todo, verbose)

    async def _calls(self, bar: Any, *, plain_in_loop: bool
                     ) -> tuple[dict[str, Response], dict[tuple[str, str], Score | None], list[Cell]]:
        """Call the cells the log lacks, then score: the judges (a batch through the runner), the
        other async scorers and, with ``plain_in_loop``, the plain ones (in worker threads).
        Returns the answers by cell key, the scores so far and the cells that were called."""
        log = self.runner.run_log
        if log is not None:
            log.save_experiment(self.experiment_id, self.name, self.config())
        logged = self._logged()
        responses = {c.key: logged[c.key] for c in self.cells if c.key in logged}
        todo = [c for c in self.cells if c.key not in responses]
        if todo:
            got = await self.runner.run([c.request for c in todo], cache=self.cache, progress=bar or False,
                                        experiment_id=self.experiment_id, cell_keys=[c.key for c in todo])
            responses.update({c.key: r for c, r in zip(todo, got, strict=True)})
        return responses, await self._score_async(responses, logged, bar, plain_in_loop=plain_in_loop), todo

    async def _score_async(self, responses: dict[str, Response], logged: dict[str, Response], bar: Any, *,
                           plain_in_loop: bool) -> dict[tuple[str, str], Score | None]:
        """The scores made in the loop: the judges (a batch through the runner), the other async
        scorers and, with ``plain_in_loop``, the plain ones (in worker threads)."""
        scored: dict[tuple[str, str], Score | None] = {}
        self._judge_stats = await self._score_judges(responses, logged, scored, bar)
        looped = [s for s in self.scorers if not isinstance(s, LLMJudge) and (plain_in_loop or is_async_scorer(s))]
        scored.update(await self._score_in_loop(responses, looped))
        return scored

    def _finish(self, responses: dict[str, Response], scores: dict[tuple[str, str], Score | None],
                todo: list[Cell], verbose: bool) -> pd.DataFrame:
        self.last_run = {"calls": len(self.cells), "reused": len(self.cells) - len(todo), "ran": len(todo),
                         "errors": sum(1 for r in responses.values() if not r.ok), **self._judge_stats}
        if verbose:
            print(self._run_summary(responses, todo))
        return self._table(responses, scores)

    def _run_summary(self, responses: dict[str, Response], todo: list[Cell]) -> str:
        s = self.last_run
        cached = sum(1 for c in todo if responses[c.key].cached)
        costs = [responses[c.key].cost_usd for c in todo]
        known = [c for c in costs if c is not None]
        cost = "unknown" if len(known) < len(costs) else f"${sum(known):.4f}"
        text = (f"{s['calls']} calls: {s['reused']} reused from the log, {s['ran']} run"
                f"{f' ({cached} answered from the cache)' if cached else ''}, {s['errors']} errors; cost {cost}")
        if s.get("judge_calls"):
            text += f"; judge calls: {s['judge_reused']} reused, {s['judge_calls'] - s['judge_reused']} run"
        return text

    # --- scoring --------------------------------------------------------------------
    def _score_plain(self, responses: dict[str, Response]) -> dict[tuple[str, str], Score | None]:
        """The plain (synchronous) scorers, here in the caller's thread (so one may call ``wb.complete``)."""
        scores: dict[tuple[str, str], Score | None] = {}
        plain = [s for s in self.scorers if not isinstance(s, LLMJudge) and not is_async_scorer(s)]
        for cell in self.cells:
            response = responses[cell.key]
            for scorer in plain:
                scores[(cell.key, scorer.name)] = _safe_score(scorer, response, cell.case)
        return scores

    async def _score_in_loop(self, responses: dict[str, Response], scorers: list[Any]
                             ) -> dict[tuple[str, str], Score | None]:
        """Score with ``scorers`` through :func:`~workbench._scoring.ascore`, concurrently (at most
        ``SCORING_CONCURRENCY`` at a time): async ones awaited, plain ones in worker threads."""
        limit = asyncio.Semaphore(SCORING_CONCURRENCY)

        async def one(scorer: Any, cell: Cell) -> Score | None:
            async with limit:
                return await _asafe_score(scorer, responses[cell.key], cell.case, self.runner)

        pairs = [(scorer, cell) for scorer in scorers for cell in self.cells]
        results = await asyncio.gather(*(one(s, c) for s, c in pairs))
        return {(cell.key, scorer.name): result for (scorer, cell), result in zip(pairs, results, strict=True)}

    async def _score_judges(self, responses: dict[str, Response], logged: dict[str, Response],
                            scores: dict[tuple[str, str], Score | None], bar: Any) -> dict[str, int]:
        total = reused = 0
        for judge in self.judges:
            jobs = []
            for cell in self.cells:
                response = responses[cell.key]
                if not response.ok:
                    scores[(cell.key, judge.name)] = None
                    continue
                task = cell.request.messages[-1]["content"]
                request = judge.request(response.text, cell.case, self.runner, task=task)
                jobs.append((cell, request, _hash({"judge": judge.name, "request": request.cache_key,
                                                   "cell": cell.key}, 24)))
            done = {key: logged[key] for _, _, key in jobs if key in logged}
            missing = [(c, r, k) for c, r, k in jobs if k not in done]
            if bar is not None:
                bar.total = bar.n + len(missing)
                bar.refresh()
            if missing:
                got = await self.runner.run([r for _, r, _ in missing], cache=True, progress=bar or False,
                                            experiment_id=self.experiment_id, cell_keys=[k for _, _, k in missing])
                done.update({k: r for (_, _, k), r in zip(missing, got, strict=True)})
            for cell, _, key in jobs:
                answer = done[key]
                failed = f"judge call failed: {answer.error_type}: {answer.error}"
                scores[(cell.key, judge.name)] = judge.parse(answer.text) if answer.ok else Score(None, failed)
            total, reused = total + len(jobs), reused + len(jobs) - len(missing)
        return {"judge_calls": total, "judge_reused": reused}

    # --- the results table ------------------------------------------------------------
    def _table(self, responses: dict[str, Response], scores: dict[tuple[str, str], Score | None]) -> pd.DataFrame:
        import pandas as pd

        ratings = self._ratings()
        rows = [self._row(cell, responses[cell.key], scores, ratings) for cell in self.cells]
        # the whole table at once: every text column (outputs, cases, scorer explanations quoting
        # `expected`, errors) leaves the process through it (a notebook, a CSV), so none holds a key
        frame = redact_frame(pd.DataFrame(rows))
        for scorer in self.scorers:
            frame[scorer.name] = frame[scorer.name].astype(float)
            frame[f"{scorer.name}_passed"] = frame[f"{scorer.name}_passed"].astype("boolean")
        frame.attrs.update({
            "experiment_id": self.experiment_id, "name": self.name, "params": list(self.param_names),
            "scorers": [s.name for s in self.scorers], "judges": [j.name for j in self.judges],
            "variants": list(self.prompts), "models": list(self.models), "repeats": self.repeats,
            "prompts": {k: p.to_dict() for k, p in self.prompts.items()}, **self.last_run,
        })
        return frame

    def _row(self, cell: Cell, response: Response, scores: dict[tuple[str, str], Score | None],
             ratings: dict[int, float]) -> dict[str, Any]:
        row: dict[str, Any] = {"experiment_id": self.experiment_id, "variant": cell.variant, "model": cell.model}
        row.update({name: _hashable(cell.params.get(name)) for name in self.param_names})
        row.update({"case_id": cell.case_id, "repeat": cell.repeat})
        row.update({k: redact_obj(v) for k, v in cell.case.items() if k != "expected"})  # a key pasted in a case
        if "expected" in self.cases.columns:
            row["expected"] = redact_obj(cell.case.get("expected"))
        row["output"] = response.text if response.ok else (response.text or None)
        for scorer in self.scorers:
            score = scores.get((cell.key, scorer.name))
            row[scorer.name] = math.nan if score is None or score.value is None else float(score.value)
            row[f"{scorer.name}_passed"] = None if score is None else score.passed
            row[f"{scorer.name}_explanation"] = None if score is None else score.explanation
        row.update(confidence_columns(response, self._labels()))  # with logprobs=True (workbench/_calibration.py)
        row.update({
            "prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens,
            "reasoning_tokens": response.usage.reasoning_tokens, "cached_tokens": response.usage.cached_tokens,
            "latency_s": response.latency_s, "cost_usd": math.nan if response.cost_usd is None else response.cost_usd,
            "cached": bool(response.cached), "finish_reason": response.finish_reason,
            "error": None if response.ok else f"{response.error_type}: {response.error}",
            "call_id": response.call_id,
        })
        if self.tools or response.tool_calls:
            row["tool_calls"] = tool_calls_text(response)
        if self.response_format is not None:
            row["parsed"] = parsed_text(response)
            row["parse_error"] = response.parse_error
        if self.runner.run_log is not None:
            row["rating"] = ratings.get(response.call_id, math.nan) if response.call_id is not None else math.nan
        return row

    def _labels(self) -> list[str]:
        """The labels of a label task (a ``label_match`` scorer): the distinct expected values, for ``p_<label>``."""
        if "expected" not in self.cases.columns or not any(
                getattr(getattr(s, "fn", None), "__qualname__", "").startswith("label_match.") for s in self.scorers):
            return []
        values = [str(v) for v in dict.fromkeys(self.cases["expected"].dropna())]
        return values if len(values) <= 12 else []

    def _ratings(self) -> dict[int, float]:
        log = self.runner.run_log
        if log is None:
            return {}
        table = log.ratings()
        return {int(call_id): float(rating)
                for call_id, rating in zip(table["call_id"], table["rating"], strict=True) if rating is not None}


# --- helpers ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (for JSON, hashing and tags)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _hashable(value: Any) -> Any:
    """Lists (a ``stop`` list) as tuples, so results can be grouped by every parameter column."""
    return tuple(value) if isinstance(value, list) else value


def _add_cost(by_model: dict[str, float | None], model: str, tokens_in: int, tokens_out: int) -> None:
    price = price_of(model)
    if price is None:
        by_model[model] = None
        return
    if model in by_model and by_model[model] is None:
        return
    by_model[model] = (by_model.get(model) or 0.0) + cost_of(price, tokens_in, tokens_out)


def _safe_score(scorer: Any, response: Response, case: Mapping[str, Any]) -> Score | None:
    """Score one answer; a failed call is not scored, a scorer that raises is reported, not hidden.

    A :class:`ScorerError` (a scorer returning what is not a score) is a bug in the
    scorer, not in one answer: it propagates, naming the scorer and the fix.
    """
    if not response.ok:
        return None
    if getattr(scorer, "needs_response", False):
        case = {**case, RESPONSE_KEY: response}
    try:
        return score(scorer, response.text, case)
    except ScorerError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad answer must not sink the table
        return _raised(scorer, exc)


async def _asafe_score(scorer: Any, response: Response, case: Mapping[str, Any], runner: Runner) -> Score | None:
    """:func:`_safe_score` for async code (the scorer awaited, or run in a worker thread)."""
    if not response.ok:
        return None
    if getattr(scorer, "needs_response", False):
        case = {**case, RESPONSE_KEY: response}
    try:
        return await ascore(scorer, response.text, case, runner=runner)
    except ScorerError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad answer must not sink the table
        return _raised(scorer, exc)


def _raised(scorer: Any, exc: Exception) -> Score:
    return Score(None, f"scorer {scorer.name!r} raised {type(exc).__name__}: {exc}")


def _make_bar(total: int) -> Any:
    if total <= 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="experiment", unit="call", leave=False)


def with_history(prompt: Prompt, history: Any, case_id: Any) -> Prompt:
    """``prompt`` with a case's earlier turns before its user message (literal text, braces included)."""
    from ._prompt import Turn, _as_turn, _escape

    if isinstance(history, float) and math.isnan(history):  # an empty cell: no earlier turns
        return prompt
    if isinstance(history, str):
        try:
            history = json.loads(history) if history.strip() else []
        except ValueError:
            raise CasesError(f"Case {case_id!r}: the {HISTORY_COLUMN!r} column is not a JSON list of messages. "
                             'Fix: e.g. [["user", "Hi"], ["assistant", "Hello!"]].') from None
    if not isinstance(history, (list, tuple)):
        raise CasesError(f"Case {case_id!r}: the {HISTORY_COLUMN!r} column holds a {type(history).__name__}, not a "
                         "list of messages. Fix: a list of (role, text) pairs or message dicts.")
    turns: list[Turn] = []
    for i, item in enumerate(history, 1):
        turn = _as_turn(item, i)
        turns.append(Turn(turn.role, _escape(turn.content), turn.tool_call_id, turn.name, turn.tool_calls))
    return prompt.with_(messages=(*turns, *prompt.messages))


def tool_calls_text(response: Response) -> str | None:
    """The tool calls as compact JSON for a results table (``None`` when there are none)."""
    if not response.tool_calls:
        return None
    return json.dumps([{"name": c.name, "arguments": c.arguments, **({"error": c.error} if c.error else {})}
                       for c in response.tool_calls], ensure_ascii=False, default=str)


def parsed_text(response: Response) -> str | None:
    parsed = response.parsed.model_dump() if hasattr(response.parsed, "model_dump") else response.parsed
    return None if parsed is None else json.dumps(parsed, ensure_ascii=False, default=str)
