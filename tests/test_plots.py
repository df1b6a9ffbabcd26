"""Plots rendered to PNG, with the right number of bars, lines and labels (read from the Figure's artists)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

import workbench as wb
from workbench.plots import OKABE_ITO, _pareto_front

from .results_factory import make_results

matplotlib.use("Agg")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 5_000
    return data


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


@pytest.fixture
def grid():
    """2 variants x 2 models x temperature (0, 0.7) x 3 cases x 2 repeats."""
    rng = np.random.default_rng(0)
    scores = {}
    for variant, base in (("terse", 0.3), ("few-shot", 0.8)):
        for model in ("local:a", "local:b"):
            for t in (0.0, 0.7):
                scores[(variant, model, t)] = [[float(rng.random() < base - t / 4) for _ in range(2)] for _ in range(3)]
    return make_results(scores, params=["temperature"], latency={"terse": 0.2, "few-shot": 0.5})


def test_scores_bars_error_bars_and_labels(grid):
    fig = wb.plots.scores(grid.query("temperature == 0"))
    ax = fig.axes[0]
    bars = _bars(ax)
    assert len(bars) == 4  # 2 variants x 2 models
    assert [t.get_text() for t in ax.get_xticklabels()] == ["terse", "few-shot"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["local:a", "local:b"]
    assert ax.get_ylabel() == "mean quality" and "quality by variant" in ax.get_title() and "3 cases" in ax.get_title()
    from matplotlib.container import BarContainer

    bar_groups = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bar_groups) == 2 and all(c.errorbar is not None for c in bar_groups)  # CI whiskers on every bar
    # each bar's height is that configuration's mean over cases (repeats averaged first)
    sub = grid.query("temperature == 0 and variant == 'terse' and model == 'local:a'")
    assert bars[0].get_height() == pytest.approx(sub.groupby("case_id")["quality"].mean().mean())
    assert matplotlib.colors.to_hex(bars[0].get_facecolor()).upper() == OKABE_ITO[0].upper()
    _png(fig)


def test_scores_hue_includes_varying_parameters(grid):
    ax = wb.plots.scores(grid).axes[0]
    assert len(_bars(ax)) == 2 * 4  # hue = model x temperature
    assert "local:a · temperature=0.7" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_scores_draws_into_a_given_axes(grid):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    assert wb.plots.scores(grid, ax=right) is fig
    assert len(_bars(right)) == 8 and not _bars(left)
    plt.close(fig)


def test_an_axes_in_a_subfigure_gives_the_figure_that_holds_it(grid):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subfigures(1, 2)[1].add_subplot()
    assert wb.plots.scores(grid, ax=ax) is fig
    assert wb.plots.sweep_points([(0.0, 1.0), (1.0, 0.0)], "temperature", "score", ax=ax) is fig
    assert wb.plots.to_png(fig).startswith(b"\x89PNG")  # a SubFigure has no savefig


def test_sweep_lines_and_bands(grid):
    fig = wb.plots.sweep(grid.query("variant == 'few-shot'"))
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("local:a", "local:b")]
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [0.0, 0.7]
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # one CI band per line
    assert ax.get_xlabel() == "temperature" and "quality vs temperature" in ax.get_title()
    _png(fig)


def test_sweep_without_a_swept_parameter_says_how_to_fix():
    flat = make_results({("v1", "m"): [[1.0]]})
    with pytest.raises(wb.WorkbenchError, match="params="):
        wb.plots.sweep(flat)


def test_heatmap_rows_columns_and_values(grid):
    data = grid.query("model == 'local:a' and temperature == 0")
    fig = wb.plots.heatmap(data)
    ax = fig.axes[0]
    image = [a for a in ax.get_children() if isinstance(a, AxesImage)][0]
    values = image.get_array()
    assert values.shape == (2, 3)  # variants x cases
    assert [t.get_text() for t in ax.get_yticklabels()] == ["terse", "few-shot"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    expected = data[data.variant == "few-shot"].groupby("case_id")["quality"].mean().to_numpy()
    assert np.allclose(values[1], expected)
    assert "mean of 2 repeats" in ax.get_title() and len(ax.texts) == 6
    _png(fig)


def test_heatmap_keeps_long_row_labels_inside_the_figure():
    """16 configurations with long names: the labels took the whole width and the cells collapsed to nothing."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(7)
    names = ("precise-with-one-worked-example-and-format", "vague-question-without-any-guidance")
    scores = {(v, m, t, p): [[float(rng.random() < 0.6) for _ in range(2)] for _ in range(8)]
              for v in names for m in ("local:smollm2", "openai:gpt-4o-mini-2024-07-18")
              for t in (0.0, 0.7) for p in (0.9, 1.0)}
    fig = wb.plots.heatmap(make_results(scores, params=["temperature", "top_p"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied because axes sizes collapsed to zero"
        _png(fig)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 16 and all("\n" in t for t in labels)  # broken between their parts
    assert labels[0].replace("\n", " · ") == " · ".join([names[0], "local:smollm2", "temperature=0", "top_p=0.9"])
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    assert min(t.get_window_extent(renderer).x0 for t in ax.get_yticklabels()) >= 0  # not cut off at the left
    assert ax.get_window_extent(renderer).width > 0.25 * fig.bbox.width  # the cells keep a real share


def test_a_big_legend_goes_below_the_bars_and_a_small_one_stays_inside():
    """Eight long configuration names used to cover the bars of wb.plots.scores."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    scores = {(v, m, t, p): [[1.0, 0.0]] * 4 for v in ("a", "b") for m in ("local:smollm2", "openai:gpt-4o-mini")
              for t in (0.0, 0.7) for p in (0.9, 1.0)}
    fig = wb.plots.scores(make_results(scores, params=["temperature", "top_p"]))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    assert len(ax.get_legend().get_texts()) == 8
    assert legend.y1 <= ax.get_window_extent(renderer).y0 and legend.y0 >= 0  # under the plot, inside the figure
    assert fig.get_size_inches()[1] > 4.0  # the figure grew for it

    small = wb.plots.scores(make_results({(v, m): [[1.0, 0.0]] * 4 for v in ("a", "b") for m in ("m1", "m2")}))
    renderer = FigureCanvasAgg(small).get_renderer()
    small.draw(renderer)
    inside = small.axes[0].get_legend().get_window_extent(renderer)
    assert small.get_size_inches()[1] == 4.0 and inside.y0 >= small.axes[0].get_window_extent(renderer).y0


def test_distribution_one_bar_per_level_and_group(grid):
    fig = wb.plots.distribution(grid)
    ax = fig.axes[0]
    assert len(_bars(ax)) == 2 * 2  # two levels (0, 1) x two variants
    counts = sorted(round(b.get_height()) for b in _bars(ax))
    terse = grid[grid.variant == "terse"]["quality"]
    assert int((terse == 1).sum()) in counts and int((terse == 0).sum()) in counts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["terse", "few-shot"]
    assert f"{len(grid)} scored calls" in ax.get_title()
    _png(fig)


def test_pareto_front_marks_the_undominated_points():
    assert _pareto_front([(1, 0.5), (2, 0.9), (3, 0.8), (0.5, 0.2), (2, 0.4)]) == [3, 0, 1]
    results = make_results({("cheap", "m"): [[0.4]] * 3, ("mid", "m"): [[0.7]] * 3, ("waste", "m"): [[0.6]] * 3,
                            ("best", "m"): [[0.9]] * 3},
                           cost={"cheap": 0.001, "mid": 0.002, "waste": 0.003, "best": 0.004})
    fig = wb.plots.pareto(results)
    ax = fig.axes[0]
    dominated, front = ax.collections[0], ax.collections[1]
    assert len(front.get_offsets()) == 3 and len(dominated.get_offsets()) == 1
    assert tuple(dominated.get_offsets()[0]) == pytest.approx((0.003, 0.6))
    assert ax.get_xlabel() == "mean cost per call (USD)"
    assert {t.get_text() for t in ax.texts} == {"cheap", "mid", "waste", "best"}
    _png(fig)


def test_pareto_uses_latency_when_nothing_costs_money(grid):
    ax = wb.plots.pareto(grid).axes[0]
    assert ax.get_xlabel() == "mean latency per call (s)" and len(ax.texts) == 8


def test_agreement_confusion_table_and_kappa():
    results = make_results({("v1", "m"): [[1], [1], [0], [0], [1], [0]]})
    results["rating"] = [1, 1, -1, 1, -1, -1]
    fig = wb.plots.agreement(results, "quality")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "2", "2"]
    kappa = wb.agreement(results, "quality").kappa
    assert f"kappa {kappa:.2f}" in ax.get_title() and ax.get_ylabel() == "human rating"
    _png(fig)


def test_plots_leave_no_open_pyplot_figures(grid):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    for make in (wb.plots.scores, wb.plots.sweep, wb.plots.heatmap, wb.plots.distribution, wb.plots.pareto):
        make(grid)
    assert len(plt.get_fignums()) == before


# --- defects 8.3 and 8.4 (issue 10) ----------------------------------------------------------
def _whiskers(ax) -> list[tuple[float, float]]:
    """(low, high) of every bar's error bar, bar by bar, read from the drawn segments."""
    from matplotlib.container import BarContainer

    out = []
    for container in (c for c in ax.containers if isinstance(c, BarContainer)):
        for segment in container.errorbar.lines[2][0].get_segments():
            out.append((float(segment[0][1]), float(segment[1][1])))
    return out


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_scores_error_bars_follow_the_level(level):
    # one configuration, ten cases with spread-out scores: the CI width depends on the level
    results = make_results({("v1", "m"): [[x] for x in (0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.8, 0.9, 1.0, 1.0)]})
    ax = wb.plots.scores(results, level=level).axes[0]
    from workbench._stats import bootstrap_ci, case_means

    want = bootstrap_ci(case_means(results, "quality")["score"].to_numpy(float), level=level)
    assert _whiskers(ax) == [pytest.approx(want)]
    assert f"{level:.0%} CI" in ax.get_title()


def test_scores_narrower_level_gives_narrower_error_bars():
    results = make_results({("v1", "m"): [[x] for x in (0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.8, 0.9, 1.0, 1.0)]})
    (low50, high50), = _whiskers(wb.plots.scores(results, level=0.5).axes[0])
    (low99, high99), = _whiskers(wb.plots.scores(results, level=0.99).axes[0])
    assert low99 < low50 < high50 < high99


def test_sweep_band_follows_the_level(grid):
    from workbench._stats import bootstrap_ci, case_means

    data = grid.query("variant == 'few-shot' and model == 'local:a'")
    ax = wb.plots.sweep(data, level=0.8).axes[0]
    band = [c for c in ax.collections if isinstance(c, PolyCollection)][0]
    means = case_means(data, "quality")
    want = [bootstrap_ci(means[means.temperature == t]["score"].to_numpy(float), level=0.8) for t in (0.0, 0.7)]
    ys = band.get_paths()[0].vertices[:, 1]
    for low, high in want:  # the band's outline passes through each point's CI ends
        assert np.isclose(ys, low).any() and np.isclose(ys, high).any()
    assert "80% CI" in ax.get_title()


def test_pareto_front_ignores_configurations_without_scores():
    nan = float("nan")
    # the unscored configuration comes first, so indices into the filtered list are off by one
    results = make_results({("unscored", "m"): [[nan]] * 3, ("cheap", "m"): [[0.4]] * 3, ("mid", "m"): [[0.7]] * 3,
                            ("waste", "m"): [[0.6]] * 3, ("best", "m"): [[0.9]] * 3},
                           cost={"unscored": 0.0005, "cheap": 0.001, "mid": 0.002, "waste": 0.003, "best": 0.004})
    ax = wb.plots.pareto(results, x="cost_usd").axes[0]
    dominated, front = ax.collections[0], ax.collections[1]
    got_front = sorted((round(float(x), 6), round(float(y), 6)) for x, y in np.ma.getdata(front.get_offsets()))
    assert got_front == [(0.001, 0.4), (0.002, 0.7), (0.004, 0.9)]
    got_dominated = [(round(float(x), 6), round(float(y), 6)) for x, y in np.ma.getdata(dominated.get_offsets())]
    assert got_dominated == [(0.003, 0.6)]
    # the unscored configuration is named once, in the title, not labelled at a point that is not drawn
    assert "not shown: unscored" in ax.get_title()
    assert sorted(t.get_text() for t in ax.texts) == ["best", "cheap", "mid", "waste"]


def test_scores_bars_at_zero_are_visible():
    """Issue 18 item 9: a configuration that scored 0 drew no bar at all; it is labelled "0" on the axis."""
    results = make_results({("terse", "local:a", 0.0): [[0.0, 0.0]] * 3,
                            ("few-shot", "local:a", 0.0): [[1.0, 1.0]] * 3},
                           params=["temperature"])
    ax = wb.plots.scores(results).axes[0]
    assert [b.get_height() for b in _bars(ax)][:2] == [0.0, 1.0]
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["0"]  # only the zero bar is marked
