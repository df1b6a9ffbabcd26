"""``wb.Improve`` (the improve loop, live) and ``wb.ReviewCases`` (generated cases: edit, delete, accept)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..state import Throttle
from ..state.improve import CaseReviewState, ImproveState, diff_html
from ._parts import MessageArea, StateWidget, guard, hidden, section, style_tag

__all__ = ["Improve", "ReviewCases"]


class Improve(StateWidget):
    """``wb.improve`` as a widget: Run, watch the rounds, read each diff, Stop, Accept.

    ``wb.Improve(prompt, cases=df, scorers=[...], model="local:smollm2", rounds=3, candidates=4)``
    takes the arguments of :func:`wb.improve`. The table shows each candidate
    as it is scored (its diff against its parent under "diff"); the plot shows
    the accepted prompt's train and held-out scores per round with 95% CIs.
    Accept saves the accepted prompt as a version whose note is the verdict.
    :attr:`state` is an :class:`~workbench.state.improve.ImproveState`.
    """

    def __init__(self, prompt: Any = None, cases: Any = None, scorers: Any = (), model: str | None = None, *,
                 state: ImproveState | None = None, **kwargs: Any) -> None:
        self.state = state or ImproveState(prompt, cases, scorers, model, **kwargs)
        s = self.state
        safe = guard(self._report)
        title = w.HTML("<span class='wb-title'>Improve</span>"
                       f"<span class='wb-title-sub'>{html.escape(s.improvement.model)}</span>")
        self._run_controls("Run", "100px", "Propose, score on train, confirm on held-out", safe)
        topbar = w.HBox([title, self.run_button, self.stop_button, self.status])
        topbar.add_class("wb-topbar")
        self.plan = w.HTML(f"<pre class='wb-improve-plan' style='font-size:11px;margin:0;white-space:pre-wrap'>"
                           f"{html.escape(s.plan_text())}</pre>")
        self.messages = MessageArea()
        self.table = w.HTML()
        self.table.add_class("wb-improve-table")
        self.plot = w.Image(format="png", layout=w.Layout(width="100%", max_width="560px"))
        self.plot.add_class("wb-plot")
        self.verdict = w.HTML()
        self.verdict.add_class("wb-improve-verdict")
        self.version_name = w.Text(placeholder="version name (default improved-<id>)", layout=w.Layout(width="260px"))
        self.accept_button = w.Button(description="Accept", icon="check", button_style="success", disabled=True,
                                      tooltip="Save the accepted prompt as a version; the verdict is its note")
        self.accept_button.add_class("wb-improve-accept")
        self.accept_button.on_click(safe(lambda _: s.accept(self.version_name.value.strip() or None)))
        accept_row = w.HBox([self.accept_button, self.version_name])
        accept_row.add_class("wb-row")
        left = w.VBox([section("plan"), self.plan, self.messages, section("verdict"), self.verdict, accept_row])
        left.add_class("wb-column")
        right = w.VBox([section("train and held-out score per round"), self.plot])
        right.add_class("wb-column")
        columns = w.HBox([left, right])
        columns.add_class("wb-columns")
        super().__init__([style_tag(), topbar, columns, section("candidates (open a diff to see the edit against "
                                                                 "its parent)"), self.table])
        self.add_class("wb-root")
        self.add_class("wb-improve")
        self._throttle = Throttle(self._draw, interval=0.4)
        s.observe(self._on_state)
        self._draw()

    def _on_state(self, name: str) -> None:
        if name in ("candidate", "round", "status"):
            self._throttle.poke()
        elif name in ("running", "done", "version", "error", "info"):
            self._throttle.final()

    def _draw(self) -> None:
        s = self.state
        running = s.running
        self.run_button.disabled = running
        self.stop_button.disabled = not running
        text = s.status_text()
        kind = " wb-status-running" if running else ""
        self.status.value = f"<span class='wb-status{kind}'>{html.escape(text)}</span>" if text else ""
        self.messages.set(s.error, s.info)
        self.table.value = self._table_html()
        verdict = s.verdict()
        self.verdict.value = (f"<div style='font-size:13px'>{html.escape(verdict)}</div>" if verdict else
                              "<span class='wb-hint'>The verdict appears when the run ends.</span>")
        imp = s.improvement
        self.accept_button.disabled = running or not imp.finished or not imp.improved or s.version is not None
        if imp.candidates:
            self.plot.value = s.png()
            hidden(self.plot, False)
        else:
            hidden(self.plot)

    def _table_html(self) -> str:
        rows = self.state.rows()
        if not rows:
            return "<span class='wb-hint'>Press Run: candidates appear here as they are scored.</span>"
        body = []
        for r in rows:
            status = r["status"]
            colour = ("#116329" if status.startswith(("accepted", "baseline")) else
                      "#82071e" if status.startswith(("rejected", "failed")) else "#555")
            diff = (f"<details><summary>diff</summary>{diff_html(r['diff'])}</details>" if r["diff"] else "")
            body.append(
                "<tr class='wb-improve-row' style='border-top:1px solid #ddd;vertical-align:top'>"
                f"<td>{r['round']}</td><td><b>{html.escape(r['candidate'])}</b></td>"
                f"<td>{html.escape(r['proposer'])}<div class='wb-hint'>{html.escape(r['how'])}</div>{diff}</td>"
                f"<td>{html.escape(r['train'])}</td><td>{html.escape(r['holdout'])}</td>"
                f"<td style='color:{colour}'>{html.escape(status)}</td></tr>")
        return ("<table class='wb-improve-candidates' style='font-size:12px;border-collapse:collapse;width:100%'>"
                "<tr style='text-align:left'><th>round</th><th>id</th><th style='width:40%'>how it was made</th>"
                "<th>train [95% CI]</th>"
                "<th>held-out [95% CI]</th><th>status</th></tr>" + "".join(body) + "</table>")


class ReviewCases(StateWidget):
    """Generated cases to review: edit any input or expected answer, delete a row, tick Accept.

    ``review = wb.ReviewCases(cases)``; later ``review.cases()`` gives the
    accepted cases only. :attr:`state` is a :class:`~workbench.state.improve.CaseReviewState`.
    """

    def __init__(self, cases: Any = None, *, state: CaseReviewState | None = None) -> None:
        self.state = state or CaseReviewState(cases)
        s = self.state
        self._safe = guard(self._report)
        self.counts = w.HTML()
        self.accept_all = w.Button(description="Accept all", icon="check", tooltip="Mark every row accepted")
        self.accept_all.add_class("wb-review-accept-all")
        self.accept_all.on_click(self._safe(lambda _: s.accept_all()))
        top = w.HBox([w.HTML("<span class='wb-title'>Review generated cases</span>"), self.accept_all, self.counts])
        top.add_class("wb-topbar")
        self.messages = MessageArea()
        self.grid = w.VBox()
        self.grid.add_class("wb-review-rows")
        super().__init__([style_tag(), top, self.messages, self.grid])
        self.add_class("wb-root")
        self.add_class("wb-review")
        s.observe(self._on_state)
        self._rebuild()

    def cases(self) -> Any:
        """The accepted cases."""
        return self.state.cases()

    def _on_state(self, name: str) -> None:
        if name == "frame":
            self._rebuild()
        elif name in ("error", "info"):
            self.messages.set(self.state.error, self.state.info)

    def _rebuild(self) -> None:
        s = self.state
        columns = s.editable
        rows = []
        head = w.HBox([w.HTML(f"<b>{html.escape(c)}</b>", layout=w.Layout(width="260px")) for c in columns]
                      + [w.HTML("<b>kind</b>", layout=w.Layout(width="90px")), w.HTML("<b>accept</b>")])
        rows.append(head)
        for i, record in s.frame.iterrows():
            cells: list[w.Widget] = []
            for c in columns:
                value = record[c]
                box = w.Text(value="" if value is None or (isinstance(value, float) and value != value) else str(value),
                             continuous_update=False, layout=w.Layout(width="260px"))
                box.add_class(f"wb-review-{c}")
                box.observe(self._safe(lambda ch, i=i, c=c: self.state.edit(int(i), c, ch["new"])), names="value")
                cells.append(box)
            kind = w.HTML(html.escape(str(record.get("kind", ""))), layout=w.Layout(width="90px"))
            tick = w.Checkbox(value=bool(record["accepted"]), indent=False, layout=w.Layout(width="30px"))
            tick.add_class("wb-review-accept")
            tick.observe(self._safe(lambda ch, i=i: self.state.set_accepted(int(i), ch["new"])), names="value")
            delete = w.Button(description="", icon="trash", tooltip="Delete this case", layout=w.Layout(width="36px"))
            delete.add_class("wb-review-delete")
            delete.on_click(self._safe(lambda _, i=i: self.state.delete(int(i))))
            row = w.HBox([*cells, kind, tick, delete])
            row.add_class("wb-review-row")
            rows.append(row)
        self.grid.children = tuple(rows)
        c = s.counts()
        self.counts.value = f"<span class='wb-hint'>{c['cases']} cases · {c['accepted']} accepted</span>"
        self.messages.set(s.error, s.info)
