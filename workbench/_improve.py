"""Measured prompt improvement: propose rewrites, keep only what held-out cases confirm.

The loop, and why each part is there:

* **A fixed split.** The cases are shuffled with ``seed`` and split once into
  *train* and *held-out*. Proposers see train cases only; candidates are
  scored and chosen on train.
* **Acceptance on held-out only.** A round's best candidate on train is run on
  the held-out cases and compared, case by case, with the prompt accepted so
  far (:func:`workbench._stats.compare`: paired bootstrap CI and sign-flip
  test). It is accepted only when the CI excludes 0 and p is below the level.
  The held-out cases are used once per round, so by default the level is split
  over the rounds (Bonferroni): across the whole run, the chance of accepting a
  change that does nothing stays below ``alpha``.
* **The optimism gap.** Train gain minus held-out gain: how much choosing on
  train flattered the candidate. Few-shot examples drawn from train cases are
  the classic case (the model has seen those answers).
* **Every call through the runner and the log.** Each evaluation is a
  :class:`~workbench.Experiment`, so an interrupted run resumes from the log
  and pays for nothing twice; proposer calls are seeded and cached.

``wb.improve(...)`` runs the loop and returns the :class:`Improvement`;
``wb.Improvement(...)`` builds it without running (``plan()`` first).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import BudgetExceededError, CancelledRunError, CasesError, ParamsError, ScorerError
from ._experiment import Experiment, load_cases
from ._params import Params
from ._portal import submit
from ._pricing import cost_of, price_of, request_tokens
from ._prompt import Prompt, as_prompt
from ._proposers import (
    OPERATORS,
    Context,
    Edit,
    Failure,
    ModelProposer,
    ProposalError,
    as_edit,
    proposer_name,
)
from ._runner import Runner, get_runner
from ._stats import bootstrap_ci, compare
from .providers import default_model, resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["improve", "Improvement", "ImprovePlan", "Candidate", "split_cases", "min_cases", "MIN_HOLDOUT",
           "MIN_TRAIN"]

#: The fewest held-out cases with which a paired sign-flip test can reach p < 0.05 (2 / 2**6 = 0.031).
MIN_HOLDOUT = 6
#: The fewest train cases worth choosing on.
MIN_TRAIN = 3


# --- splits ----------------------------------------------------------------------------
def _n_holdout(n: int, holdout: float) -> int:
    return int(round(n * holdout))


def min_cases(holdout: float) -> int:
    """The fewest cases giving ``MIN_HOLDOUT`` held-out and ``MIN_TRAIN`` train cases at this ``holdout``."""
    n = MIN_HOLDOUT + MIN_TRAIN
    while _n_holdout(n, holdout) < MIN_HOLDOUT or n - _n_holdout(n, holdout) < MIN_TRAIN:
        n += 1
        if n > 100_000:
            break
    return n


def split_cases(cases: Any, holdout: float = 0.3, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffle the cases with ``seed`` and split them into (train, held-out); the same seed, the same split.

    Raises :class:`CasesError` naming the minimum when there are too few cases for a
    held-out set that can confirm anything.
    """
    if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real) or not 0 < holdout < 1:
        raise ParamsError(f"holdout={holdout!r} is not a fraction. Fix: a share of the cases kept aside, "
                          "between 0 and 1, e.g. holdout=0.3.")
    frame = load_cases(cases)
    need = min_cases(float(holdout))
    if len(frame) < need:
        raise CasesError(
            f"{len(frame)} cases are too few for a held-out split with holdout={holdout:g}: at least {need} are "
            f"needed ({MIN_HOLDOUT} held-out, the fewest with which a paired test can reach p < 0.05, and "
            f"{MIN_TRAIN} to train on). Fix: add cases (wb.generate_cases can draft some to review), "
            "or raise holdout.")
    order = np.random.default_rng(seed).permutation(len(frame))
    k = _n_holdout(len(frame), float(holdout))
    return frame.iloc[np.sort(order[k:])], frame.iloc[np.sort(order[:k])]


# --- results ---------------------------------------------------------------------------
@dataclass
class Candidate:
    """One prompt tried: how it was made, from which parent, and its scores."""

    id: str
    round: int
    prompt: Prompt
    params: dict[str, Any]
    proposer: str
    note: str = ""
    parent: str | None = None
    diff: str = ""
    train: pd.DataFrame | None = field(default=None, repr=False)  # per-case scores on train
    holdout: pd.DataFrame | None = field(default=None, repr=False)
    train_score: float = math.nan
    train_ci: tuple[float, float] = (math.nan, math.nan)
    holdout_score: float = math.nan
    holdout_ci: tuple[float, float] = (math.nan, math.nan)
    status: str = ""
    comparison: Any = None  # the held-out Comparison when it was tested
    calls: int = 0

    @property
    def key(self) -> str:
        return _hash({"prompt": self.prompt.to_dict() | {"name": None}, "params": self.params})


@dataclass(frozen=True)
class ImprovePlan:
    """The calls a run will make at most, known before any call."""

    baseline_calls: int
    calls_per_round: int
    rounds: int
    max_calls: int
    n_train: int
    n_holdout: int
    candidates: int
    proposer_calls_per_round: int
    budget_calls: int | None
    budget_usd: float | None
    cost_usd: float | None
    alpha: float
    test_alpha: float

    def __repr__(self) -> str:
        cost = "unknown (no price for the model; wb.set_price)" if self.cost_usd is None else f"~${self.cost_usd:.4f}"
        lines = [
            f"Improve: {self.n_train} train cases, {self.n_holdout} held-out cases, {self.rounds} "
            f"round{'s' if self.rounds != 1 else ''} x {self.candidates} candidates",
            f"  baseline: {self.baseline_calls} calls (the prompt on train and on held-out)",
            f"  per round: up to {self.calls_per_round} calls ({self.candidates} x {self.n_train} on train, "
            f"{self.n_holdout} on held-out for the round's best"
            + (f", {self.proposer_calls_per_round} proposer calls" if self.proposer_calls_per_round else "") + ")",
            f"  at most {self.max_calls} calls in all (fewer when the log already has some), estimated cost {cost}",
            f"  acceptance: paired test on held-out, p < {self.test_alpha:.3g}"
            + (f" (alpha {self.alpha:g} split over {self.rounds} rounds)" if self.test_alpha != self.alpha else ""),
        ]
        if self.budget_calls is not None or self.budget_usd is not None:
            parts = [f"{self.budget_calls} calls" if self.budget_calls is not None else "",
                     f"${self.budget_usd:g}" if self.budget_usd is not None else ""]
            lines.append("  budget: " + " and ".join(p for p in parts if p) + " (the loop stops before exceeding it)")
        return "\n".join(lines)


class StopImprove(Exception):
    """Raised inside the loop when Stop was pressed."""


# --- the loop ----------------------------------------------------------------------------
class Improvement:
    """The improve loop: build it (every input checked, no call made), :meth:`plan`, then :meth:`run`.

    ``proposer`` is a model string (a :class:`~workbench._proposers.ModelProposer`), a
    callable, or a list of them; ``operators`` are the deterministic edit operators
    tried as well (``operators=()`` for the proposer alone). Each round collects up
    to ``candidates`` new candidates from them, scores each on train, and tests the
    best on held-out against the prompt accepted so far. ``alpha`` is the level of
    the whole run (split over ``rounds`` unless ``correct=False``). ``budget_calls``
    and ``budget_usd`` stop the loop before a round that could exceed them.
    """

    def __init__(self, prompt: Any, cases: Any, scorers: Any, model: str | None = None, *,
                 proposer: Any = None, operators: Sequence[Callable[..., Any]] | None = None,
                 rounds: int = 3, candidates: int = 4, holdout: float = 0.3, seed: int = 0,
                 params: Mapping[str, Any] | None = None, alpha: float = 0.05, correct: bool = True,
                 budget_calls: int | None = None, budget_usd: float | None = None,
                 runner: Runner | None = None, name: str | None = None) -> None:
        for label, value, low in (("rounds", rounds, 1), ("candidates", candidates, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParamsError(f"{label}={value!r} is not allowed. Fix: a whole number from {low}, e.g. {label}=3.")
        if not isinstance(alpha, float | int) or not 0 < alpha < 1:
            raise ParamsError(f"alpha={alpha!r} is not a level. Fix: e.g. alpha=0.05.")
        self.original = as_prompt(prompt, template=True)
        self.model = model or default_model()
        resolve(self.model)
        self.params: dict[str, Any] = Params.build(dict(params or {})).set()
        self.rounds, self.n_candidates, self.seed, self.holdout = rounds, candidates, seed, holdout
        self.alpha = float(alpha)
        self.test_alpha = self.alpha / rounds if correct else self.alpha
        self.runner = runner or get_runner()
        self.cases = load_cases(cases)
        self.scorers = _check_scorers(scorers, self.cases)
        self.train_cases, self.holdout_cases = split_cases(self.cases, holdout, seed)
        self.proposers = _proposers(proposer, operators)
        self.budget_calls = _check_budget_calls(budget_calls)
        self.budget_usd = _check_budget_usd(budget_usd)
        self.name = name
        # an experiment with the original prompt checks columns, scorers and every request now
        self._experiment(self.original, self.params, self.train_cases, "check")
        self.run_id = name or "improve-" + _hash({
            "prompt": self.original.to_dict() | {"name": None}, "params": self.params, "model": self.model,
            "cases": json.loads(self.cases.reset_index().to_json(orient="records", force_ascii=False)),
            "scorers": [s.name for s in self.scorers], "seed": seed, "holdout": holdout})
        self.candidates: list[Candidate] = []
        self.accepted: list[Candidate] = []
        self.stopped: str | None = None
        self.calls_made = 0
        self.calls_reused = 0
        self.cost_usd = 0.0
        self.wall_s = 0.0
        self.finished = False
        self.round = 0
        self._stop = threading.Event()
        self._future: Any = None
        self._listeners: list[Callable[[str], Any]] = []
        self._check_budget_covers_a_round()

    # --- planning ----------------------------------------------------------------------
    @property
    def n_model_proposers(self) -> int:
        return sum(1 for p in self.proposers if isinstance(p, ModelProposer))

    def plan(self) -> ImprovePlan:
        """The most calls the run makes (baseline, then per round), its estimated cost, the budget."""
        n_train, n_hold = len(self.train_cases), len(self.holdout_cases)
        proposer_calls = self.n_candidates if self.n_model_proposers else 0
        per_round = self.n_candidates * n_train + n_hold + proposer_calls
        baseline = n_train + n_hold
        total = baseline + self.rounds * per_round
        return ImprovePlan(baseline, per_round, self.rounds, total, n_train, n_hold, self.n_candidates,
                           proposer_calls, self.budget_calls, self.budget_usd, self._estimate_cost(total),
                           self.alpha, self.test_alpha)

    def _estimate_cost(self, calls: int) -> float | None:
        """Rough: the original prompt's cost per call on train, doubled for longer candidates."""
        price = price_of(self.model)
        if price is None:
            return None
        exp = self._experiment(self.original, self.params, self.train_cases, "check")
        tokens = [request_tokens(c.request) for c in exp.cells]
        per_call = sum(cost_of(price, t_in * 2, t_out) for t_in, t_out in tokens) / max(1, len(tokens))
        return per_call * calls

    def _check_budget_covers_a_round(self) -> None:
        plan = self.plan()
        one_round = plan.baseline_calls + plan.calls_per_round
        if self.budget_calls is not None and self.budget_calls < one_round:
            raise BudgetExceededError(
                f"budget_calls={self.budget_calls} is smaller than one round: the baseline takes "
                f"{plan.baseline_calls} calls and a round up to {plan.calls_per_round}, {one_round} in all. "
                f"Fix: budget_calls={one_round} or more, or fewer candidates or cases.")
        if self.budget_usd is not None:
            if plan.cost_usd is None:
                raise BudgetExceededError(
                    f"Cannot keep within budget_usd={self.budget_usd:g}: the price of {self.model} is unknown. "
                    "Fix: set it with wb.set_price(model, usd_per_mtok_in, usd_per_mtok_out), or drop budget_usd.")
            need = plan.cost_usd * one_round / max(1, plan.max_calls)
            if need > self.budget_usd:
                raise BudgetExceededError(
                    f"budget_usd={self.budget_usd:g} is smaller than one round (estimated ${need:.4f} for "
                    f"{one_round} calls). Fix: raise budget_usd, or use fewer candidates or cases.")

    # --- running -----------------------------------------------------------------------
    def observe(self, listener: Callable[[str], Any]) -> None:
        """Call ``listener(what)`` as the run progresses ("round", "candidate", "status", "done")."""
        self._listeners.append(listener)

    def _tell(self, what: str) -> None:
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a display bug must not stop the loop
                listener(what)

    def stop(self) -> None:
        """Stop the run: the calls in flight are cancelled; what was logged is kept (run again to resume)."""
        self._stop.set()
        future = self._future
        if future is not None:
            future.cancel()

    def run(self, *, verbose: bool = False) -> Improvement:
        """Run the loop (resuming from the log: calls already logged are reused, not paid again)."""
        started = time.perf_counter()
        self._stop.clear()
        self.candidates, self.accepted, self.stopped, self.finished = [], [], None, False
        self.calls_made = self.calls_reused = 0
        self.cost_usd = 0.0
        try:
            self._loop(verbose)
        except StopImprove:
            self.stopped = self.stopped or "stopped by the user; run again to resume (the log keeps every answer)"
        finally:
            self.wall_s = time.perf_counter() - started
            self.finished = True
            self._tell("done")
        return self

    def _loop(self, verbose: bool) -> None:
        base = Candidate("original", 0, self.original, dict(self.params), "original", "the prompt as given")
        self.candidates.append(base)
        self._score(base, "train")
        self._score(base, "holdout")
        base.status = "baseline"
        self.accepted.append(base)
        self._tell("candidate")
        if verbose:
            print(f"baseline: train {base.train_score:.3f}, held-out {base.holdout_score:.3f}")
        for r in range(1, self.rounds + 1):
            self.round = r
            self._tell("round")
            if not self._within_budget():
                return
            parent = self.accepted[-1]
            made = self._propose(parent, r)
            if not made:
                reasons = "; ".join(f"{c.proposer}: {c.status}" for c in self.candidates if c.round == r) or \
                    "every proposer returned nothing new"
                self.stopped = (f"round {r}: no proposer produced a usable candidate ({reasons}). "
                                "Fix: add proposers or operators, or edit the model proposer's meta-prompt.")
                self._tell("status")
                return
            for cand in made:
                self._score(cand, "train")
                self._tell("candidate")
            best = max(made, key=lambda c: -math.inf if math.isnan(c.train_score) else c.train_score)
            for cand in made:
                if cand is not best:
                    cand.status = "not chosen (lower on train)"
            if math.isnan(best.train_score) or best.train_score <= parent.train_score:
                best.status = (f"best on train this round, but not above the accepted prompt "
                               f"({best.train_score:.3f} vs {parent.train_score:.3f}): not tested on held-out")
                self._tell("candidate")
                continue
            self._score(best, "holdout")
            best.comparison = self._compare(parent, best)
            c = best.comparison
            confirmed = c.ci_low > 0 and c.p_value < self.test_alpha
            best.status = ("accepted: confirmed on held-out" if confirmed else
                           "rejected: not confirmed on held-out") + f" ({_gain_text(c, self.test_alpha)})"
            if confirmed:
                self.accepted.append(best)
            self._tell("candidate")
            if verbose:
                print(f"round {r}: {best.id} ({best.proposer}) {best.status}")

    def _within_budget(self) -> bool:
        per_round = self.plan().calls_per_round
        if self.budget_calls is not None and self.calls_made + per_round > self.budget_calls:
            self.stopped = (f"budget: {self.calls_made} calls made, the next round could take {per_round} more, "
                            f"above budget_calls={self.budget_calls}")
            self._tell("status")
            return False
        if self.budget_usd is not None:
            est = self._estimate_cost(per_round) or 0.0
            if self.cost_usd + est > self.budget_usd:
                self.stopped = (f"budget: ${self.cost_usd:.4f} spent, the next round is estimated at ${est:.4f}, "
                                f"above budget_usd={self.budget_usd:g}")
                self._tell("status")
                return False
        return True

    # --- proposing -----------------------------------------------------------------------
    def _propose(self, parent: Candidate, r: int) -> list[Candidate]:
        """Up to ``candidates`` new candidates from the proposers, taken in turn (rotating by round)."""
        seen = {c.key for c in self.candidates if c.round == 0 or c.parent == parent.id} | {parent.key}
        ctx_base = self._context(parent, r)
        made: list[Candidate] = []
        order = self.proposers[(r - 1) % len(self.proposers):] + self.proposers[: (r - 1) % len(self.proposers)]
        attempts: dict[int, int] = {}
        queue = list(order)
        while queue and len(made) < self.n_candidates:
            if self._stop.is_set():
                raise StopImprove
            proposer = queue.pop(0)
            attempt = attempts.get(id(proposer), 0)
            attempts[id(proposer)] = attempt + 1
            ctx = dataclasses.replace(ctx_base, attempt=attempt)
            name = proposer_name(proposer)
            if isinstance(proposer, ModelProposer) and attempt + 1 < self.n_candidates:
                queue.append(proposer)  # a model can be asked again (another seed) to fill the round
            try:
                edits = as_edit(proposer(ctx), ctx)
            except ProposalError as exc:
                self._failed(r, parent, name, str(exc))
                continue
            except StopImprove:
                raise
            except Exception as exc:  # noqa: BLE001 - a proposer bug is shown in the history, not raised mid-run
                self._failed(r, parent, name, f"raised {type(exc).__name__}: {exc}")
                continue
            for edit in edits:
                cand = self._candidate(edit, parent, r, name, len(made) + 1)
                if cand is None or cand.key in seen:
                    continue
                seen.add(cand.key)
                self.candidates.append(cand)
                made.append(cand)
                if len(made) >= self.n_candidates:
                    break
        return made

    def _candidate(self, edit: Edit, parent: Candidate, r: int, name: str, i: int) -> Candidate | None:
        try:
            params = Params.build(dict(edit.params)).set()
            self._experiment(edit.prompt, params, self.train_cases, "check")
        except Exception as exc:  # noqa: BLE001 - an unusable edit is shown, not raised
            self._failed(r, parent, name, f"unusable candidate: {exc}")
            return None
        prompt = edit.prompt.with_(name=f"r{r}c{i}")
        return Candidate(f"r{r}c{i}", r, prompt, params, name, edit.note, parent.id,
                         prompt_diff(parent.prompt, parent.params, prompt, params))

    def _failed(self, r: int, parent: Candidate, name: str, why: str) -> None:
        fails = [c for c in self.candidates if c.round == r and c.id.startswith(f"r{r}x")]
        self.candidates.append(Candidate(f"r{r}x{len(fails) + 1}", r, parent.prompt, dict(parent.params), name,
                                         parent=parent.id, status=f"failed: {why}"))
        self._tell("candidate")

    def _context(self, parent: Candidate, r: int) -> Context:
        failures = []
        frame = parent.train
        if frame is not None:
            for _, row in frame.sort_values("score").iterrows():
                if row["score"] >= 1:
                    continue
                case = {k: row[k] for k in self.train_cases.columns if k in row}
                case["expected"] = row.get("expected", None)
                why = {s.name: str(row.get(f"{s.name}_explanation") or "") for s in self.scorers}
                failures.append(Failure(case, str(row.get("output") or ""), float(row["score"]), why))
        return Context(parent.prompt, dict(parent.params), self.train_cases, failures, self.scorers, r, self.seed,
                       0, self.runner, self.model)

    # --- scoring -------------------------------------------------------------------------
    def _experiment(self, prompt: Prompt, params: Mapping[str, Any], cases: pd.DataFrame, part: str) -> Experiment:
        frame = cases.reset_index().rename(columns={"case_id": "id"})
        return Experiment({"candidate": prompt.with_(name=None)}, self.model, dict(params) or None,
                          frame, self.scorers, runner=self.runner)

    def _score(self, cand: Candidate, part: str) -> None:
        cases = self.train_cases if part == "train" else self.holdout_cases
        exp = self._experiment(cand.prompt, cand.params, cases, part)
        if self._stop.is_set():
            raise StopImprove
        self._future = submit(exp._calls(None, plain_in_loop=True))
        while True:
            try:
                responses, scored, todo = self._future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                if self._stop.is_set():
                    self._future.cancel()
                    raise StopImprove from None
            except (asyncio.CancelledError, concurrent.futures.CancelledError, CancelledRunError):
                raise StopImprove from None
        paid = [responses[c.key] for c in todo if not responses[c.key].cached]
        self.calls_made += len(paid)
        self.calls_reused += len(exp.cells) - len(paid)
        self.cost_usd += sum(r.cost_usd or 0.0 for r in paid)
        cand.calls += len(paid)
        table = exp._finish(responses, scored, todo, verbose=False)
        names = [s.name for s in self.scorers]
        table["score"] = table[names].astype(float).mean(axis=1, skipna=True)
        per_case = table.set_index("case_id")
        mean = float(per_case["score"].mean())
        ci = bootstrap_ci(per_case["score"].to_numpy(), seed=self.seed)
        if part == "train":
            cand.train, cand.train_score, cand.train_ci = per_case, mean, ci
        else:
            cand.holdout, cand.holdout_score, cand.holdout_ci = per_case, mean, ci

    def _compare(self, a: Candidate, b: Candidate) -> Any:
        import pandas as pd

        assert a.holdout is not None and b.holdout is not None
        frame = pd.concat([
            pd.DataFrame({"variant": a.id, "case_id": a.holdout.index, "score": a.holdout["score"].to_numpy()}),
            pd.DataFrame({"variant": b.id, "case_id": b.holdout.index, "score": b.holdout["score"].to_numpy()}),
        ], ignore_index=True)
        frame.attrs.update({"scorers": ["score"], "params": []})
        return compare(frame, a.id, b.id, "score", by="variant", alpha=self.test_alpha, seed=self.seed)

    # --- reading -------------------------------------------------------------------------
    @property
    def original_candidate(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def best_candidate(self) -> Candidate | None:
        return self.accepted[-1] if self.accepted else None

    @property
    def best(self) -> Prompt:
        """The last accepted prompt, or the original when nothing was confirmed (:attr:`reason` says why)."""
        cand = self.best_candidate
        return cand.prompt if cand is not None else self.original

    @property
    def best_params(self) -> dict[str, Any]:
        cand = self.best_candidate
        return dict(cand.params) if cand is not None else dict(self.params)

    @property
    def improved(self) -> bool:
        return len(self.accepted) > 1

    @property
    def final_comparison(self) -> Any:
        """The best prompt against the original on held-out (``None`` when nothing was accepted)."""
        if not self.improved:
            return None
        return self._compare(self.accepted[0], self.accepted[-1])

    def _most_optimistic(self) -> Candidate | None:
        """The candidate whose held-out result says most about optimism: the accepted one, else the tested
        candidate with the highest train score."""
        if self.improved:
            return self.accepted[-1]
        tested = [c for c in self.candidates if c.comparison is not None]
        return max(tested, key=lambda c: c.train_score) if tested else None

    @property
    def optimism_gap(self) -> float | None:
        """Train gain minus held-out gain over the original, for the accepted prompt (else the train favourite
        that was tested); ``None`` when no candidate reached held-out."""
        cand, base = self._most_optimistic(), self.original_candidate
        if cand is None or base is None:
            return None
        return (cand.train_score - base.train_score) - (cand.holdout_score - base.holdout_score)

    @property
    def reason(self) -> str:
        return self.verdict

    @property
    def verdict(self) -> str:
        """The result in plain words, with the held-out figures."""
        if not self.candidates:
            return "Not run yet. Call .run() (see .plan() for the calls it makes)."
        base = self.candidates[0]
        n = len(self.holdout_cases)
        stop = f" The run stopped early: {self.stopped}." if self.stopped else ""
        if self.improved:
            c = self.final_comparison
            best = self.accepted[-1]
            return (f"{c.diff:+.2f} on {n} held-out cases ({1 - self.alpha:.0%} CI {c.ci_low:+.2f} to "
                    f"{c.ci_high:+.2f}, p = {c.p_value:.2g}): {best.id} ({_chain(self.accepted)}) is accepted over "
                    f"the original ({c.mean_b:.2f} vs {c.mean_a:.2f}); optimism gap {self.optimism_gap:+.2f}.{stop}")
        tested = self._most_optimistic()
        if tested is not None:
            c = tested.comparison
            return (f"No change confirmed on {n} held-out cases: the best candidate on train, {tested.id} "
                    f"({tested.proposer}, train {tested.train_score - base.train_score:+.2f}), scored "
                    f"{c.diff:+.2f} on held-out ({1 - self.test_alpha:.1%} CI {c.ci_low:+.2f} to {c.ci_high:+.2f}, "
                    f"p = {c.p_value:.2g}; needed: CI above 0 and p < {self.test_alpha:.3g}). The original prompt "
                    f"is kept; optimism gap {self.optimism_gap:+.2f}.{stop}")
        tried = sum(1 for c in self.candidates[1:] if not c.status.startswith("failed"))
        if self.stopped and not any(not math.isnan(c.train_score) for c in self.candidates[1:]):
            return (f"Stopped before any candidate was scored: {self.stopped}. The original prompt is kept "
                    f"(train {base.train_score:.2f}, held-out {base.holdout_score:.2f}).")
        return (f"No change confirmed: none of {tried} candidates scored above the original on train "
                f"({base.train_score:.2f}), so none was tested on the {n} held-out cases. The original prompt is "
                f"kept.{stop}")

    @property
    def history(self) -> pd.DataFrame:
        """One row per candidate: round, id, proposer, how it was made, diff vs parent, train score with its CI,
        held-out score, the held-out difference with its CI and p, the status, and the calls it made."""
        import pandas as pd

        rows = []
        for c in self.candidates:
            comp = c.comparison
            rows.append({
                "round": c.round, "candidate": c.id, "parent": c.parent, "proposer": c.proposer, "how": c.note,
                "diff": c.diff, "train_score": c.train_score, "train_ci_low": c.train_ci[0],
                "train_ci_high": c.train_ci[1], "holdout_score": c.holdout_score,
                "holdout_diff": comp.diff if comp is not None else math.nan,
                "holdout_ci_low": comp.ci_low if comp is not None else math.nan,
                "holdout_ci_high": comp.ci_high if comp is not None else math.nan,
                "p_value": comp.p_value if comp is not None else math.nan,
                "status": c.status, "calls": c.calls,
            })
        return pd.DataFrame(rows)

    def rounds_table(self) -> pd.DataFrame:
        """Per round: the accepted prompt's train and held-out scores with CIs (what the plot shows)."""
        import pandas as pd

        rows = []
        if not self.candidates:
            return pd.DataFrame(columns=["round", "train", "train_low", "train_high", "holdout", "holdout_low",
                                         "holdout_high", "best_train"])
        current = self.candidates[0]
        for r in range(0, max(c.round for c in self.candidates) + 1):
            done = [c for c in self.accepted if c.round == r]
            if done:
                current = done[-1]
            in_round = [c for c in self.candidates if c.round == r and not math.isnan(c.train_score)]
            best = max((c.train_score for c in in_round), default=math.nan)
            rows.append({"round": r, "train": current.train_score, "train_low": current.train_ci[0],
                         "train_high": current.train_ci[1], "holdout": current.holdout_score,
                         "holdout_low": current.holdout_ci[0], "holdout_high": current.holdout_ci[1],
                         "best_train": best})
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """The figures of the run: baseline and best held-out scores with CIs, gap, calls, wall time."""
        base, best = self.original_candidate, self.best_candidate
        return {
            "baseline_holdout": base.holdout_score if base else math.nan,
            "baseline_holdout_ci": base.holdout_ci if base else (math.nan, math.nan),
            "best_holdout": best.holdout_score if best else math.nan,
            "best_holdout_ci": best.holdout_ci if best else (math.nan, math.nan),
            "accepted": [c.id for c in self.accepted[1:]], "optimism_gap": self.optimism_gap,
            "calls_made": self.calls_made, "calls_reused": self.calls_reused, "cost_usd": self.cost_usd,
            "wall_s": self.wall_s, "stopped": self.stopped, "verdict": self.verdict,
        }

    def __repr__(self) -> str:
        if not self.candidates:
            return f"<Improvement (not run): {len(self.train_cases)} train, {len(self.holdout_cases)} held-out cases>"
        return (f"Improvement of {self.original.name or 'the prompt'} on {self.model}: {self.verdict}\n"
                f"{len(self.candidates) - 1} candidates over {max(c.round for c in self.candidates)} rounds; "
                f"{self.calls_made} calls made, {self.calls_reused} reused from the log; {self.wall_s:.1f} s")

    def figure(self) -> Any:
        from .plots import improve_rounds

        return improve_rounds(self)


def improve(prompt: Any, cases: Any, scorers: Any, model: str | None = None, *, proposer: Any = None,
            operators: Sequence[Callable[..., Any]] | None = None, rounds: int = 3, candidates: int = 4,
            holdout: float = 0.3, seed: int = 0, params: Mapping[str, Any] | None = None, alpha: float = 0.05,
            correct: bool = True, budget_calls: int | None = None, budget_usd: float | None = None,
            runner: Runner | None = None, name: str | None = None, verbose: bool = False) -> Improvement:
    """Propose rewrites of ``prompt``, choose on train cases, keep only what held-out cases confirm.

    >>> imp = wb.improve(prompt, cases=df, scorers=[wb.scorers.label_match()], model="local:smollm2",
    ...                  proposer="local:smollm2", rounds=3, candidates=4, holdout=0.3, seed=0)  # doctest: +SKIP
    >>> imp.verdict, imp.best, imp.history                                                         # doctest: +SKIP

    Every input is checked before the first call (too few cases for the split, no
    scorer, a scorer needing an ``expected`` column, a budget below one round).
    See :class:`Improvement` for the arguments; ``Improvement(...).plan()`` shows
    the calls first.
    """
    imp = Improvement(prompt, cases, scorers, model, proposer=proposer, operators=operators, rounds=rounds,
                      candidates=candidates, holdout=holdout, seed=seed, params=params, alpha=alpha, correct=correct,
                      budget_calls=budget_calls, budget_usd=budget_usd, runner=runner, name=name)
    return imp.run(verbose=verbose)


# --- helpers -------------------------------------------------------------------------------
def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _check_scorers(scorers: Any, cases: pd.DataFrame) -> list[Any]:
    from ._experiment import _scorers

    given = [scorers] if callable(scorers) else list(scorers or [])
    if not given:
        raise ScorerError("improve needs at least one scorer: it keeps a rewrite only when the scores say it is "
                          "better. Fix: e.g. scorers=[wb.scorers.label_match()] or a function (output, case) -> score.")
    items = _scorers(given, cases)
    if any(getattr(s, "needs_expected", False) for s in items):
        empty = cases["expected"].isna() | (cases["expected"].astype(str).str.strip() == "")
        if empty.any():
            ids = [str(i) for i in cases.index[empty][:5]]
            raise CasesError(f"{int(empty.sum())} case(s) have no expected value ({', '.join(ids)}), but a scorer "
                             "compares answers with it. Fix: fill the 'expected' column, or drop those cases.")
    return items


def _proposers(proposer: Any, operators: Sequence[Callable[..., Any]] | None) -> list[Any]:
    given = [] if proposer is None else list(proposer) if isinstance(proposer, (list, tuple)) else [proposer]
    out: list[Any] = []
    for p in given:
        if isinstance(p, str):
            resolve(p)
            out.append(ModelProposer(p))
        elif callable(p):
            out.append(p)
        else:
            raise ParamsError(f"proposer={p!r} is not a model or a function. Fix: a model string such as "
                              "'local:smollm2', or a function (context) -> wb.Prompt | None.")
    out += list(OPERATORS if operators is None else operators)
    if not out:
        raise ParamsError("No proposer and no operators: nothing can propose a rewrite. Fix: pass proposer='<model>' "
                          "or keep the default operators.")
    return out


def _check_budget_calls(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamsError(f"budget_calls={value!r} is not a number of calls. Fix: e.g. budget_calls=200 (or None).")
    return value


def _check_budget_usd(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise ParamsError(f"budget_usd={value!r} is not a budget in US dollars. Fix: e.g. budget_usd=1.0 (or None).")
    return float(value)


def _gain_text(c: Any, alpha: float) -> str:
    return (f"{c.diff:+.2f} on {c.n} held-out cases, {1 - alpha:.1%} CI {c.ci_low:+.2f} to {c.ci_high:+.2f}, "
            f"p = {c.p_value:.2g}")


def _chain(accepted: list[Candidate]) -> str:
    return " + ".join(c.proposer for c in accepted[1:])


def _prompt_lines(prompt: Prompt, params: Mapping[str, Any]) -> list[str]:
    lines = [f"{k}: {params[k]!r}" for k in sorted(params)]
    if prompt.system:
        lines += ["--- system ---", *prompt.system.splitlines()]
    for i, (q, a) in enumerate(prompt.examples, 1):
        lines += [f"--- example {i}: user ---", *q.splitlines(), f"--- example {i}: assistant ---", *a.splitlines()]
    lines += ["--- user ---", *prompt.user.splitlines()]
    return lines


def prompt_diff(a: Prompt, a_params: Mapping[str, Any], b: Prompt, b_params: Mapping[str, Any]) -> str:
    """A unified line diff of two prompts with their parameters (``+`` added, ``-`` removed)."""
    out = list(difflib.unified_diff(_prompt_lines(a, a_params), _prompt_lines(b, b_params), lineterm="", n=1))
    return "\n".join(out[2:])  # without the ---/+++ file header
