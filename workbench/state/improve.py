"""The state of ``wb.Improve`` (the improve loop, live) and ``wb.ReviewCases`` (generated cases to review).

:class:`ImproveState` runs :class:`workbench._improve.Improvement` in a worker
thread (its evaluations go to the portal, its proposers may call models
synchronously), tells its listeners as candidates are scored, stops on
request, and saves the accepted prompt as a version whose note is the verdict.
:class:`CaseReviewState` holds generated cases while a person edits, deletes
and accepts them; only accepted cases come out of :meth:`CaseReviewState.cases`.
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Mapping
from typing import Any

from .. import plots
from .._errors import RunLogError, WorkbenchError
from .._improve import Candidate, Improvement
from .._log import RunLog, Version
from .._runner import Runner
from .inputs import friendly_error
from .observable import Observable

__all__ = ["ImproveState", "CaseReviewState", "diff_html"]


def diff_html(diff: str) -> str:
    """A unified diff as coloured lines (added green, removed red), escaped."""
    if not diff:
        return "<span class='wb-hint'>(no change)</span>"
    out = []
    for line in diff.splitlines():
        if line.startswith("@@"):
            continue
        style = ("background:#e6ffec;color:#116329" if line.startswith("+") else
                 "background:#ffebe9;color:#82071e" if line.startswith("-") else "color:#555")
        out.append(f"<div style='{style};white-space:pre-wrap'>{html.escape(line) or '&nbsp;'}</div>")
    return "<div class='wb-diff' style='font-family:monospace;font-size:11px'>" + "".join(out) + "</div>"


def _fmt(value: float, ci: tuple[float, float] | None = None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if ci is None or math.isnan(ci[0]):
        return f"{value:.2f}"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


class ImproveState(Observable):
    """``wb.improve`` as a widget's state: :meth:`start` (returns at once), :meth:`stop`, :meth:`accept`.

    Listeners hear ``"candidate"`` as each candidate is scored, ``"round"``,
    ``"running"``, ``"error"``/``"info"`` and ``"version"``.
    """

    def __init__(self, prompt: Any, cases: Any, scorers: Any, model: str | None = None, *,
                 log: RunLog | str | None = None, **kwargs: Any) -> None:
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self.error: str | None = None
        self.info: str | None = None
        self.running = False
        self.version: Version | None = None
        if log is not None and not isinstance(log, RunLog):
            log = RunLog(log)
        if log is not None and kwargs.get("runner") is None:
            kwargs["runner"] = Runner(log=log, progress=False)  # the calls, and so the resume, go to this log
        self.improvement = Improvement(prompt, cases, scorers, model, **kwargs)
        self.improvement.observe(self._heard)
        self._log = log if log is not None else self.improvement.runner.run_log

    @property
    def log(self) -> RunLog | None:
        return self._log

    def _heard(self, what: str) -> None:
        self.changed(what)

    # --- running ---------------------------------------------------------------------
    def plan_text(self) -> str:
        return repr(self.improvement.plan())

    def start(self) -> bool:
        """Start the loop in a worker thread; ``False`` (and :attr:`error` says why) if one is running."""
        if self.running:
            self.error = "A run is already going. Fix: wait for it, or press Stop."
            return False
        self.error, self.info, self.version = None, None, None
        self._done.clear()
        self.running = True
        self._thread = threading.Thread(target=self._work, name="workbench-improve", daemon=True)
        self._thread.start()
        return True

    def _work(self) -> None:
        try:
            self.improvement.run()
        except Exception as exc:  # noqa: BLE001 - shown in the widget
            self.error = friendly_error(exc)
        finally:
            self.running = False
            self._done.set()
            if self.improvement.stopped and not self.error:
                self.info = f"Stopped: {self.improvement.stopped}"

    def run(self, timeout: float | None = None) -> Improvement:
        """Start and wait (from code and tests)."""
        self.start()
        self.wait(timeout)
        if self.error:
            raise WorkbenchError(self.error)
        return self.improvement

    def stop(self) -> bool:
        """Stop the loop: calls in flight are cancelled; everything logged is kept (Run again resumes)."""
        if not self.running:
            return False
        self.improvement.stop()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # --- accepting -------------------------------------------------------------------
    def accept(self, name: str | None = None) -> Version:
        """Save the accepted prompt as a version (its note is the verdict); refused when nothing was confirmed."""
        imp = self.improvement
        if self.running or not imp.finished:
            raise WorkbenchError("Nothing to accept yet: the run has not finished. Fix: wait for it, or Stop it.")
        if not imp.improved:
            raise WorkbenchError(f"Nothing to accept: no change was confirmed on the held-out cases. {imp.verdict}")
        if self._log is None:
            raise RunLogError("Saving a version needs a run log, but logging is off for this runner. "
                              "Fix: pass log=wb.RunLog('runs.sqlite').")
        best = imp.best_candidate
        assert best is not None
        label = name or f"improved-{best.id}"
        self.version = self._log.save_version(label, imp.best.with_(name=None), imp.best_params, imp.model,
                                              note=imp.verdict)
        self.info = f"Saved as version #{self.version.id} {self.version.name!r} (the verdict is its note)."
        self.changed("version")
        return self.version

    # --- reading ---------------------------------------------------------------------
    def status_text(self) -> str:
        imp = self.improvement
        if self.running:
            scored = sum(1 for c in imp.candidates if not math.isnan(c.train_score))
            return f"running… round {imp.round}/{imp.rounds} · {scored} prompts scored · {imp.calls_made} calls"
        if imp.finished:
            word = "stopped" if imp.stopped else "done"
            return f"{word} · {imp.calls_made} calls made, {imp.calls_reused} reused · {imp.wall_s:.0f} s"
        return ""

    def rows(self) -> list[dict[str, Any]]:
        """One display row per candidate (a copy: the loop may add rows meanwhile)."""
        return [self._row(c) for c in list(self.improvement.candidates)]

    @staticmethod
    def _row(c: Candidate) -> dict[str, Any]:
        return {"round": c.round, "candidate": c.id, "proposer": c.proposer, "how": c.note,
                "train": _fmt(c.train_score, c.train_ci), "holdout": _fmt(c.holdout_score, c.holdout_ci),
                "status": c.status, "diff": c.diff}

    def png(self) -> bytes:
        return plots.to_png(self.improvement.figure())

    def verdict(self) -> str:
        imp = self.improvement
        return imp.verdict if imp.finished else ""

    def summary_text(self) -> str:
        imp = self.improvement
        lines = [f"Improve on {imp.model}: {len(imp.train_cases)} train, {len(imp.holdout_cases)} held-out cases"]
        lines += [f"  {r['candidate']} ({r['proposer']}): train {r['train']}, held-out {r['holdout']} {r['status']}"
                  for r in self.rows()]
        if self.verdict():
            lines.append(self.verdict())
        return "\n".join(lines)

    def summary_html(self) -> str:
        rows = "".join(
            f"<tr><td>{r['round']}</td><td>{html.escape(r['candidate'])}</td><td>{html.escape(r['proposer'])}</td>"
            f"<td>{html.escape(r['train'])}</td><td>{html.escape(r['holdout'])}</td>"
            f"<td>{html.escape(r['status'])}</td></tr>" for r in self.rows())
        verdict = f"<p><b>{html.escape(self.verdict())}</b></p>" if self.verdict() else ""
        return ("<div class='wb-improve-summary'><table><tr><th>round</th><th>candidate</th><th>proposer</th>"
                f"<th>train</th><th>held-out</th><th>status</th></tr>{rows}</table>{verdict}</div>")


class CaseReviewState(Observable):
    """Generated cases under review: edit a cell, delete a row, accept rows; :meth:`cases` gives the accepted ones."""

    def __init__(self, cases: Any) -> None:
        import pandas as pd

        frame = cases.copy() if isinstance(cases, pd.DataFrame) else pd.DataFrame(list(cases))
        if "accepted" not in frame.columns:
            frame["accepted"] = False
        self.frame = frame.reset_index(drop=True)
        self.error: str | None = None
        self.info: str | None = None

    @property
    def editable(self) -> list[str]:
        """The columns a reviewer edits: the inputs and ``expected`` (not the markers)."""
        return [c for c in self.frame.columns if c not in ("kind", "generated", "accepted", "generated_by")]

    def edit(self, row: int, column: str, value: Any) -> None:
        if column not in self.editable:
            raise WorkbenchError(f"{column!r} cannot be edited here. Fix: edit one of {self.editable}.")
        self.frame.loc[row, column] = value
        self.changed("frame")

    def delete(self, row: int) -> None:
        self.frame = self.frame.drop(index=row).reset_index(drop=True)
        self.info = f"Deleted case {row + 1}; {len(self.frame)} left."

    def set_accepted(self, row: int, flag: bool = True) -> None:
        self.frame.loc[row, "accepted"] = bool(flag)
        self.changed("frame")

    def accept_all(self) -> None:
        self.frame["accepted"] = True
        self.info = f"Accepted all {len(self.frame)} cases."
        self.changed("frame")

    def cases(self) -> Any:
        """The accepted cases (a copy), ready for ``wb.improve`` or an experiment."""
        kept = self.frame[self.frame["accepted"].astype(bool)].reset_index(drop=True)
        return kept.copy()

    def counts(self) -> Mapping[str, int]:
        return {"cases": len(self.frame), "accepted": int(self.frame["accepted"].astype(bool).sum())}

    def summary_text(self) -> str:
        c = self.counts()
        return f"{c['cases']} generated cases, {c['accepted']} accepted"

    def summary_html(self) -> str:
        return f"<p>{html.escape(self.summary_text())}</p>" + self.frame.to_html(index=False, escape=True)
