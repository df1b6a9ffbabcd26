"""Plots of experiment results (matplotlib). Each returns a Figure and accepts ``ax=``.

Every plot reads its labels and title from the data (variant names, the
scorer's name, the number of cases), uses the Okabe-Ito palette, which stays
distinguishable for colour-blind readers and in greyscale, and shows
uncertainty where there is any (confidence intervals, never bare means).

Figures are made with pyplot and closed straight away: in Jupyter the returned
Figure is displayed once (by the cell's value), not twice, and scripts or
tests on the Agg backend leak no open figures.

>>> fig = wb.plots.scores(results)                       # doctest: +SKIP
>>> fig, axes = plt.subplots(1, 2); wb.plots.sweep(results, ax=axes[0])  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import WorkbenchError
from ._stats import agreement as _agreement
from ._stats import bootstrap_ci, case_means, design_columns, param_columns, pick_scorer

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["scores", "sweep", "heatmap", "distribution", "pareto", "agreement", "sweep_points", "improve_rounds",
           "to_png", "OKABE_ITO",
           "calibration"]

#: Okabe & Ito (2008), "Color Universal Design": safe for the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SEQUENTIAL = "cividis"  # perceptually uniform and colour-blind-safe


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return _figure_of(ax), ax
    import matplotlib.pyplot as plt

    fig, new_ax = plt.subplots(figsize=size, layout="constrained")
    plt.close(fig)  # shown once, as the returned value, and not kept open by pyplot
    return fig, new_ax


def _figure_of(ax: Axes) -> Figure:
    """The Figure that holds ``ax``, also when ``ax`` sits in a SubFigure (which has no savefig, needed by to_png)."""
    from matplotlib.figure import SubFigure

    fig = ax.figure
    return fig.figure if isinstance(fig, SubFigure) else fig


def _legend(ax: Axes, grow: bool) -> None:
    """The legend inside the plot when it is small, else below it (a big one used to hide the bars).

    ``grow``: the figure is ours, so it grows by the legend's height rather than squeezing the plot.
    """
    _, labels = ax.get_legend_handles_labels()
    longest = max((len(t) for t in labels), default=0)
    if len(labels) <= 3 and longest <= 28:
        ax.legend(fontsize="small", frameon=False)
        return
    ncol = 1 if longest > 36 else 2
    ax.legend(fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=ncol)
    if grow:
        fig = _figure_of(ax)
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + 0.6 + 0.2 * math.ceil(len(labels) / ncol))


def _colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def _varying(results: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c in results.columns and results[c].nunique(dropna=False) > 1]


def _tex(text: Any) -> str:
    """``text`` shown as written: a ``$`` in a case id or a name must not start matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _label(row: Any, columns: list[str]) -> str:
    parts = []
    for c in columns:
        value = row[c]
        if c in ("variant", "model"):
            parts.append(str(value))
        else:
            parts.append(f"{c}={value:g}" if isinstance(value, float) else f"{c}={value}")
    return _tex(" · ".join(parts) or "all")


def _wrap(label: str, width: int = 44) -> str:
    """A long configuration label on several lines, broken between its `` · `` parts."""
    lines: list[str] = []
    for part in label.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def _ci(values: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean and bootstrap CI at ``level`` of the non-NaN values."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    low, high = bootstrap_ci(values, level=level)
    return float(values.mean()), low, high


def _unit_range(ax: Axes, values: Any) -> None:
    """A 0-1 axis for 0-1 scores, so bars of different plots read alike."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) and v.min() >= 0 and v.max() <= 1:
        ax.set_ylim(0, 1.05)


# --- mean by variant/model -------------------------------------------------------------
def scores(results: pd.DataFrame, scorer: str | None = None, *, by: str = "variant", ax: Axes | None = None,
           level: float = 0.95) -> Figure:
    """Mean score per ``by`` value (bars), one bar per model/setting within it, with CI error bars."""
    scorer = pick_scorer(results, scorer)
    means = case_means(results, scorer)
    hue_cols = _varying(means, [c for c in design_columns(results) if c != by])
    groups = list(dict.fromkeys(means[by]))
    hues = list(dict.fromkeys(_label(r, hue_cols) for _, r in means.iterrows()))
    means["_hue"] = [_label(r, hue_cols) for _, r in means.iterrows()]
    own = ax is None
    fig, ax = _axes(ax)
    width = 0.8 / len(hues)
    for j, hue in enumerate(hues):
        stats = [_ci(means[(means[by] == g) & (means["_hue"] == hue)]["score"].to_numpy(float), level) for g in groups]
        centre = np.array([s[0] for s in stats])
        err = np.array([[max(s[0] - s[1], 0) for s in stats], [max(s[2] - s[0], 0) for s in stats]])
        x = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        bars = ax.bar(x, centre, width * 0.95, yerr=np.nan_to_num(err), capsize=4, color=_colour(j),
                      label=hue if len(hues) > 1 else None, error_kw={"elinewidth": 1.2})
        ax.bar_label(bars, labels=["0" if c == 0 else "" for c in centre], padding=2, fontsize="small",
                     color=_colour(j))  # a bar at zero has no height: say it is there
    ax.set_xticks(np.arange(len(groups)), [_tex(g) for g in groups])
    ax.set_xlabel(_tex(by))
    ax.set_ylabel(_tex(f"mean {scorer}"))
    _unit_range(ax, means["score"])
    n_cases = means["case_id"].nunique()
    ax.set_title(_tex(f"{scorer} by {by}: mean with {level:.0%} CI ({n_cases} cases)"))
    if len(hues) > 1:
        _legend(ax, grow=own)
    return fig


# --- parameter sweep -----------------------------------------------------------------------
def sweep(results: pd.DataFrame, param: str | None = None, scorer: str | None = None, *,
          ax: Axes | None = None, level: float = 0.95) -> Figure:
    """Mean score against a swept parameter, one line per model/variant, with a CI band at ``level``."""
    scorer = pick_scorer(results, scorer)
    swept = _varying(results, param_columns(results))
    param = param or (swept[0] if swept else None)
    if param is None or param not in results.columns:
        raise WorkbenchError(f"No swept parameter to plot{f' ({param!r} is not a column)' if param else ''}. "
                             "Fix: run the experiment with params={'temperature': [0, 0.5, 1]} or pass param=.")
    means = case_means(results, scorer)
    line_cols = _varying(means, [c for c in design_columns(results) if c != param])
    own = ax is None
    fig, ax = _axes(ax)
    for j, (_key, group) in enumerate(means.groupby(line_cols, sort=False) if line_cols else [((), means)]):
        xs = sorted(group[param].dropna().unique())
        stats = [_ci(group[group[param] == x]["score"].to_numpy(float), level) for x in xs]
        label = _label(group.iloc[0], line_cols) if line_cols else _tex(scorer)
        ax.plot(xs, [s[0] for s in stats], marker="o", color=_colour(j), label=label)
        ax.fill_between(xs, [s[1] for s in stats], [s[2] for s in stats], color=_colour(j), alpha=0.2, linewidth=0)
    ax.set_xlabel(_tex(param))
    ax.set_ylabel(_tex(f"mean {scorer}"))
    _unit_range(ax, means["score"])
    ax.set_title(_tex(f"{scorer} vs {param} ({level:.0%} CI band, {means['case_id'].nunique()} cases)"))
    if line_cols:
        _legend(ax, grow=own)
    return fig


# --- configuration x case ------------------------------------------------------------------
def heatmap(results: pd.DataFrame, scorer: str | None = None, *, ax: Axes | None = None,
            annotate: bool | None = None) -> Figure:
    """Score of every configuration (rows) on every case (columns), averaged over repeats."""
    scorer = pick_scorer(results, scorer)
    means = case_means(results, scorer)
    row_cols = _varying(means, design_columns(results)) or ["variant"]
    means["_row"] = [_label(r, row_cols) for _, r in means.iterrows()]
    table = means.pivot_table(index="_row", columns="case_id", values="score", aggfunc="mean", sort=False, dropna=False)
    rows = list(dict.fromkeys(means["_row"]))
    table = table.reindex(index=rows)
    values = table.to_numpy(float)
    labels = [_wrap(r) for r in rows]
    widest = max((len(line) for label in labels for line in label.split("\n")), default=0)
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    # room for the row labels beside the cells and the colour bar: long labels used to squeeze the cells to nothing
    width = 3.0 + 0.35 * table.shape[1] + 0.075 * widest + 1.2
    fig, ax = _axes(ax, (max(6.4, min(20.0, width)), max(2.8, 1.4 + max(0.45, 0.19 * lines + 0.15) * len(rows))))
    in_unit = np.nanmin(values) >= 0 and np.nanmax(values) <= 1 if np.isfinite(values).any() else True
    image = ax.imshow(values, cmap=SEQUENTIAL, aspect="auto", vmin=0 if in_unit else None, vmax=1 if in_unit else None)
    ax.set_xticks(range(table.shape[1]), [_tex(c) for c in table.columns], rotation=90 if table.shape[1] > 12 else 0,
                  fontsize="small")
    ax.set_yticks(range(len(rows)), labels)
    ax.set_xlabel("case")
    if annotate if annotate is not None else values.size <= 300:
        for (i, j), v in np.ndenumerate(values):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize="x-small",
                        color="black" if v > 0.5 * (np.nanmax(values) + np.nanmin(values)) else "white")
    ax.figure.colorbar(image, ax=ax, label=_tex(f"mean {scorer}"))
    repeats = int(results.groupby(design_columns(results) + ["case_id"]).size().max())
    ax.set_title(_tex(f"{scorer} per case" + (f" (mean of {repeats} repeats)" if repeats > 1 else "")))
    return fig


# --- distribution ---------------------------------------------------------------------------
def distribution(results: pd.DataFrame, scorer: str | None = None, *, by: str = "variant",
                 ax: Axes | None = None, bins: int | list[float] | None = None) -> Figure:
    """Histogram of per-call scores, side by side for each ``by`` value."""
    scorer = pick_scorer(results, scorer)
    groups = list(dict.fromkeys(results[by]))
    data = [results.loc[results[by] == g, scorer].dropna().to_numpy(float) for g in groups]
    every = np.concatenate(data) if data else np.array([])
    if bins is None:
        distinct = np.unique(every)
        if 0 < len(distinct) <= 11:  # a few levels (0/1, a 1-5 judge): one bar per level
            gap = np.min(np.diff(distinct)) if len(distinct) > 1 else 1.0
            bins = list(np.append(distinct - gap / 2, distinct[-1] + gap / 2))
        else:
            bins = 10
    own = ax is None
    fig, ax = _axes(ax)
    ax.hist(data, bins=bins, label=[_tex(g) for g in groups], color=[_colour(i) for i in range(len(groups))])
    if isinstance(bins, list):  # one bar per level: label the levels themselves
        centres = [(a + b) / 2 for a, b in zip(bins[:-1], bins[1:], strict=True)]
        ax.set_xticks(centres, [f"{c:g}" for c in centres])
    ax.set_xlabel(_tex(scorer))
    ax.set_ylabel("calls")
    ax.set_title(_tex(f"Distribution of {scorer} by {by} ({len(every)} scored calls)"))
    _legend(ax, grow=own)
    return fig


# --- cost or latency vs quality ---------------------------------------------------------------
def _pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both lower x and higher y, by increasing x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto(results: pd.DataFrame, scorer: str | None = None, *, x: str = "auto", ax: Axes | None = None) -> Figure:
    """Each configuration's mean score against its mean cost (or latency) per call; Pareto front marked.

    ``x="auto"`` uses cost when every configuration has a known, non-zero
    cost, else latency (local models cost nothing, so latency is the trade-off).
    """
    scorer = pick_scorer(results, scorer)
    design = design_columns(results)
    grouped = results.groupby(design, sort=False, dropna=False)
    if x == "auto":
        costs = grouped["cost_usd"].mean() if "cost_usd" in results else None
        x = "cost_usd" if costs is not None and costs.notna().all() and (costs > 0).any() else "latency_s"
    if x not in results.columns:
        raise WorkbenchError(f"No column {x!r} in the results. Fix: x='cost_usd' or x='latency_s'.")
    label_cols = _varying(results, design) or design[:1]
    points, labels = [], []
    for _, group in grouped:
        per_case = group.groupby("case_id")[scorer].mean()
        points.append((float(group[x].mean()), float(per_case.mean())))
        labels.append(_label(group.iloc[0], label_cols))
    # a configuration with no score (or no cost) cannot be placed: it is named in the title instead
    shown = [i for i, p in enumerate(points) if not any(map(math.isnan, p))]
    missing = [labels[i] for i in range(len(points)) if i not in shown]
    front = [shown[i] for i in _pareto_front([points[i] for i in shown])]  # back to indices into points
    own = ax is None
    fig, ax = _axes(ax)
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    others = [i for i in shown if i not in front]
    ax.scatter(xs[others], ys[others], color="#999999", label="dominated", zorder=2)
    ax.scatter(xs[front], ys[front], color=OKABE_ITO[5], marker="D", s=50, label="Pareto front", zorder=3)
    ax.step(xs[front], ys[front], where="post", color=OKABE_ITO[5], linewidth=1.2, zorder=1)
    middle = (np.nanmin(xs[shown]) + np.nanmax(xs[shown])) / 2 if shown else 0
    for n, i in enumerate(shown):  # alternate offsets so close points stay readable
        px, py = points[i]
        right = px > middle  # labels point inwards, so none runs off the figure
        label = ax.annotate(labels[i], (px, py), textcoords="offset points",
                            xytext=(-5 if right else 5, 5 if n % 2 == 0 else -11),
                            ha="right" if right else "left", fontsize="x-small")
        label.set_in_layout(False)  # long labels must not squeeze the axes
    ax.margins(x=0.15, y=0.12)
    words = {"cost_usd": "mean cost per call (USD)", "latency_s": "mean latency per call (s)"}
    ax.set_xlabel(_tex(words.get(x, x)))
    ax.set_ylabel(_tex(f"mean {scorer}"))
    title = _tex(f"{scorer} vs {words.get(x, x).replace('mean ', '')}: Pareto front marked")
    if missing:  # the labels are escaped already
        title += f"\n(no {_tex(scorer)} or {_tex(x)}, not shown: {', '.join(missing)})"
    ax.set_title(title)
    _legend(ax, grow=own)
    return fig


# --- judge vs human ------------------------------------------------------------------------
def agreement(results: pd.DataFrame, judge: str | None = None, *, ax: Axes | None = None) -> Figure:
    """Confusion table of an LLM judge's pass/fail against human thumbs, with Cohen's kappa."""
    result = _agreement(results, judge)
    table = result.table.to_numpy(float)
    fig, ax = _axes(ax, (5.6, 4.4))
    image = ax.imshow(table, cmap=SEQUENTIAL, vmin=0)
    for (i, j), v in np.ndenumerate(table):
        ax.text(j, i, f"{int(v)}", ha="center", va="center", color="white" if v < table.max() / 2 else "black")
    ax.set_xticks([0, 1], list(result.table.columns))
    ax.set_yticks([0, 1], list(result.table.index))
    ax.set_xlabel(_tex(result.scorer))
    ax.set_ylabel("human rating")
    ax.figure.colorbar(image, ax=ax, label="calls")
    ax.set_title(f"{_tex(result.scorer)} vs human ratings\n"
                 f"Cohen's kappa {result.kappa:.2f} ({result.interpretation}), n = {result.n}")
    return fig


# --- confidence vs correctness (the token lens, issue 13) -------------------------------------
def calibration(results: pd.DataFrame, scorer: str | None = None, confidence: str = "confidence", *,
                bins: int = 5, ax: Axes | None = None, level: float = 0.95, seed: int = 0) -> Figure:
    """Reliability diagram: accuracy per confidence bin (each bin's count shown) against the diagonal of perfect
    calibration, titled with AUROC and Brier score and their bootstrap CIs (``wb.calibration`` has the figures)."""
    from ._calibration import calibration as _calibration

    result = _calibration(results, scorer, confidence, bins=bins, level=level, seed=seed)
    fig, ax = _axes(ax, (5.6, 4.6))
    table = result.reliability
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", label="perfectly calibrated")
    width = 1 / bins
    centres = np.linspace(width / 2, 1 - width / 2, bins)
    acc = table["accuracy"].to_numpy(float)
    ax.bar(centres, np.nan_to_num(acc), width=width * 0.9, color=_colour(0), alpha=0.75, edgecolor="white",
           label="accuracy in the bin")
    ax.plot(table["mean_confidence"], acc, marker="o", color=_colour(1), linestyle="none",
            label="accuracy at the bin's mean confidence")
    for x, a, n in zip(centres, acc, table["n"], strict=True):
        ax.text(x, (0 if math.isnan(a) else a) + 0.02, f"n={n}", ha="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel(f"{_tex(confidence)} (model's token probability)")
    ax.set_ylabel(f"share passing {_tex(result.scorer)}")
    pct = f"{level:.0%}"
    ax.set_title(f"AUROC {result.auroc:.2f} [{result.auroc_ci[0]:.2f}, {result.auroc_ci[1]:.2f}] · "
                 f"Brier {result.brier:.3f} [{result.brier_ci[0]:.3f}, {result.brier_ci[1]:.3f}]\n"
                 f"{pct} bootstrap CIs, n = {result.n} answers, accuracy {result.accuracy:.0%}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


# --- a Sweep widget's answers: every answer as a dot, the mean as a line ----------------------
def sweep_points(data: Any, parameter: str | None = None, measure: str | None = None, *,
                 values: list[float] | tuple[float, ...] | None = None, title: str | None = None,
                 ax: Axes | None = None) -> Figure:
    """Each answer's measure against the swept value (a dot, nudged sideways so none hides another)
    and the mean per value (a line). What ``wb.Sweep`` draws; experiments use :func:`sweep` (with CIs).

    ``data`` is one of:

    - a Sweep's state (``sw.state``): the parameter, measure, values and title come from it;
    - a DataFrame with one row per answer (``sw.state.to_frame()``): pass ``parameter`` and
      ``measure``, its column names;
    - ``(value, measure)`` pairs (``None`` or NaN: an answer without a measure, not drawn).

    Without ``ax`` the figure is a bare :class:`matplotlib.figure.Figure`, not a pyplot one,
    so it can be drawn from any thread (the widget redraws it from the portal's) and never
    opens a window or a second inline copy.
    """
    pairs, parameter, measure, values, title = _sweep_data(data, parameter, measure, values, title)
    groups: dict[float, list[float]] = {}  # value -> measures, in order of first appearance
    for x, y in pairs:
        scored = groups.setdefault(float(x), [])
        if y is not None and not math.isnan(float(y)):
            scored.append(float(y))
    ticks = [float(v) for v in values] if values else list(groups)
    span = (max(ticks) - min(ticks)) if ticks else 0.0
    span = span or 1.0
    xs: list[float] = []
    ys: list[float] = []
    for x, scored in groups.items():
        for i, y in enumerate(scored):
            xs.append(x + (i - (len(scored) - 1) / 2) * span * 0.012)
            ys.append(y)
    means = [(x, sum(scored) / len(scored)) for x, scored in groups.items() if scored]

    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = _figure_of(ax)
    if means:
        ax.plot([m[0] for m in means], [m[1] for m in means], "-", color=OKABE_ITO[5], linewidth=2,
                marker="D", markersize=5, label="mean", zorder=2)
        ax.plot(xs, ys, "o", markerfacecolor="none", markeredgecolor=OKABE_ITO[0], markersize=7,
                markeredgewidth=1.5, label="each answer", zorder=3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
        if min(ys) >= 0:
            ax.set_ylim(bottom=0, top=max(ys) * 1.1 if max(ys) > 0 else 1)
    else:
        ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", transform=ax.transAxes, color="#888")
    ax.set_xlabel(_tex(parameter))
    ax.set_ylabel(_tex(measure))
    ax.set_title(_tex(title or f"{measure} vs {parameter}"), fontsize=10)
    if values:
        ax.set_xticks([float(v) for v in values])
    if len(set(ticks)) == 1:  # one value: a view one unit wide, else the jittered answers land on its edges
        ax.set_xlim(ticks[0] - span / 2, ticks[0] + span / 2)
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


_Values = list[float] | tuple[float, ...] | None  # the swept values, when given


def _sweep_data(data: Any, parameter: str | None, measure: str | None, values: _Values,
                title: str | None) -> tuple[list[tuple[Any, Any]], str, str, _Values, str | None]:
    """``(pairs, parameter, measure, values, title)`` from a Sweep state, a frame or pairs."""
    if hasattr(data, "points") and hasattr(data, "sweep_values"):  # a SweepState (duck-typed: no import)
        s = data
        repeats = f"{s.repeats} repeat{'s' if s.repeats != 1 else ''} per value"
        return ([(p.value, p.measure) for p in s.points], parameter or s.parameter, measure or s.measure,
                list(s.sweep_values) if values is None else values,
                title or f"{measure or s.measure} vs {parameter or s.parameter} · {s.model} · {repeats}")
    if hasattr(data, "columns"):  # a DataFrame
        missing = [name for name in (parameter, measure) if name is None or name not in data.columns]
        if missing:
            raise WorkbenchError(f"sweep_points() needs the frame's parameter and measure columns (it has "
                                 f"{', '.join(map(str, data.columns))}). Fix: pass parameter=... and measure=....")
        return list(zip(data[parameter], data[measure], strict=True)), str(parameter), str(measure), values, title
    try:
        pairs = [(x, y) for x, y in data]
    except (TypeError, ValueError):
        raise WorkbenchError("sweep_points() takes a Sweep's state, a DataFrame or (value, measure) pairs. "
                             "Fix: e.g. wb.plots.sweep_points(sweep.state).") from None
    return pairs, parameter or "value", measure or "measure", values, title


def improve_rounds(improvement: Any, *, ax: Axes | None = None) -> Figure:
    """Train and held-out score of the accepted prompt after each round of ``wb.improve``, with 95% CIs.

    The gap between the two lines is the optimism of choosing on train; the
    round's best train score (hollow marks) shows what was tried but not confirmed.
    """
    table = improvement.rounds_table()
    fig, ax = _axes(ax, (6.0, 3.6))
    if table.empty:
        ax.text(0.5, 0.5, "no round yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    x = table["round"].to_numpy(dtype=float)
    for i, (part, label) in enumerate((("train", "train"), ("holdout", "held-out"))):
        y = table[part].to_numpy(dtype=float)
        low = y - table[f"{part}_low"].to_numpy(dtype=float)
        high = table[f"{part}_high"].to_numpy(dtype=float) - y
        shift = -0.04 if part == "train" else 0.04
        ax.errorbar(x + shift, y, yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]), marker="o",
                    capsize=4, color=_colour(i), label=f"accepted prompt, {label}")
    best = table["best_train"].to_numpy(dtype=float)
    ax.plot(x, best, linestyle="none", marker="o", markerfacecolor="none", color=_colour(0),
            label="best candidate of the round, train")
    ax.set_xticks(x)
    ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
    ax.set_xlabel("round (0 = the original prompt)")
    ax.set_ylabel("mean score (95% CI over cases)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"Improve: {len(improvement.train_cases)} train, {len(improvement.holdout_cases)} held-out cases")
    ax.legend(loc="best", fontsize=8)
    return fig


def to_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes (what an ``ipywidgets.Image`` shows)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
