"""Benchmark 5: what the workbench costs by itself.

* ``import workbench``: ``python -X importtime`` and the wall time of a fresh
  interpreter that imports it, against one that imports nothing; and which
  heavy packages (SDKs, llama.cpp, pandas, matplotlib, ipywidgets) it loaded.
* Constructing a ``wb.Playground`` in a fresh interpreter (the first one pays
  for importing ipywidgets) and then again (the cost of the widget itself).
* Per-call cost of the runner against a plain ``AsyncOpenAI`` loop, with the
  fake server answering at once, so the client's CPU time is all there is;
  and the runner alone over an in-process provider that answers instantly.
* Memory of a results DataFrame of ``memory_rows`` rows made by a real
  ``wb.Experiment`` run (over the instant provider) and of the ``wb.plots``
  figures drawn from it, in a fresh interpreter (RSS and tracemalloc).

Measurements that need a fresh interpreter run this module as a child:
``python -m benchmarks.overhead <playground|memory> ...`` prints JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (
    REPO_ROOT,
    Section,
    Settings,
    alternate,
    median,
    paired_ratios,
    rss_bytes,
    spread,
    stopwatch,
)

HEAVY = ("openai", "mistralai", "httpx2", "llama_cpp", "pandas", "numpy", "matplotlib", "ipywidgets",
         "pydantic", "sqlite3")
MB = 1024 * 1024


# --- helpers for child interpreters --------------------------------------------------------------
def python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run this venv's interpreter in the repository, with the workbench's log in a throw-away place."""
    full_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=full_env, capture_output=True, text=True,
                          check=True)


def child_json(*args: str) -> dict[str, Any]:
    """Run ``python -m benchmarks.overhead <args>`` in a fresh interpreter and read its JSON line."""
    out = python("-m", "benchmarks.overhead", *args)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- import time ---------------------------------------------------------------------------------
def importtime_us(module: str = "workbench") -> int:
    """Cumulative microseconds ``python -X importtime`` reports for ``module``."""
    err = python("-X", "importtime", "-c", f"import {module}").stderr
    for line in err.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"-X importtime printed no line for {module}")


def interpreter_wall(code: str) -> float:
    with stopwatch() as t:
        python("-c", code)
    return t[0]


def import_section(s: Settings) -> Section:
    section = Section("5. Overhead")
    cumulative = [importtime_us() for _ in range(s.import_runs)]
    bare, with_wb = [], []
    for i in range(s.import_runs):
        pair = [lambda: bare.append(interpreter_wall("pass")),
                lambda: with_wb.append(interpreter_wall("import workbench"))]
        for fn in pair if i % 2 == 0 else pair[::-1]:
            fn()
    loaded = json.loads(python("-c", "import json, sys, workbench; "
                                     f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))").stdout)
    extra = [w - b for w, b in zip(with_wb, bare, strict=True)]
    section.add("`import workbench` (python -X importtime, cumulative)", f"{median(cumulative) / 1000:.1f} ms",
                note=spread([c / 1000 for c in cumulative], unit=" ms"))
    section.add("fresh interpreter: `import workbench` vs `pass`", f"{median(with_wb) * 1000:.0f} ms",
                f"{median(bare) * 1000:.0f} ms", note=f"difference {median(extra) * 1000:.0f} ms (paired median)")
    section.add("heavy packages loaded by `import workbench`", ", ".join(loaded) or "none", target="none",
                met=not loaded, note="checked: " + ", ".join(HEAVY))
    return section


# --- the Playground widget ---------------------------------------------------------------------------
def child_playground(repeats: int) -> dict[str, Any]:
    """In a fresh interpreter: the first Playground (imports ipywidgets), then ``repeats`` more."""
    start = time.perf_counter()
    import workbench as wb

    wb.Playground("Tell me about {topic}", model="local:smollm2", topic="owls", max_tokens=64)
    first = time.perf_counter() - start
    later = []
    for _ in range(repeats):
        with stopwatch() as t:
            wb.Playground("Tell me about {topic}", model="local:smollm2", topic="owls", max_tokens=64)
        later.append(t[0])
    return {"first_s": first, "later_s": later}


def playground_rows(section: Section, s: Settings) -> None:
    runs = [child_json("playground", str(5 if s.quick else 20)) for _ in range(1 if s.quick else 3)]
    first = [r["first_s"] for r in runs]
    later = [x for r in runs for x in r["later_s"]]
    section.add("construct wb.Playground, first in a fresh kernel (imports ipywidgets)",
                f"{median(first) * 1000:.0f} ms", note=f"{len(first)} interpreters")
    section.add("construct wb.Playground, later ones", f"{median(later) * 1000:.1f} ms", note=f"{len(later)} widgets")


# --- per-call overhead -----------------------------------------------------------------------------
def per_call(fn: Any, n: int) -> tuple[float, float]:
    """Wall time and CPU time (every thread of this process) of ``fn()``, per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def per_call_rows(section: Section, s: Settings) -> None:
    """Runner vs the plain SDK loops at 0 ms latency: the client's own cost per call is all there is."""
    from .throughput import FakeServers, plain_mistral, plain_openai

    with tempfile.TemporaryDirectory(prefix="wb-bench-calls-") as tmp, FakeServers(latency=0.0) as servers:
        compare_per_call(section, s, "AsyncOpenAI", "openai:gpt-4o-mini", plain_openai(servers.process.openai_base_url),
                         s.overhead_calls, Path(tmp) / "openai.sqlite", sequential=True)
        compare_per_call(section, s, "Mistral complete_async", "mistral:mistral-small-latest",
                         plain_mistral(servers.process.mistral_base_url), max(s.overhead_calls // 4, s.concurrency),
                         Path(tmp) / "mistral.sqlite", sequential=False)


def compare_per_call(section: Section, s: Settings, sdk: str, model: str, client: Any, n: int, log: Path, *,
                     sequential: bool) -> None:
    """``n`` calls at full concurrency (and, if asked, a tenth of them one at a time), interleaved rounds."""
    import workbench as wb
    from workbench._portal import run_sync

    from .throughput import STALL_TIMEOUT_S, BaselineLoop, expected_answers, questions

    loop = BaselineLoop(client)
    runner = wb.Runner(log=log, concurrency=s.concurrency, timeout=STALL_TIMEOUT_S, progress=False)
    requests = [runner.prepare(model, wb.Prompt(user="{q}"), {"q": q}, wb.Params(temperature=0)) for q in questions(n)]
    n_seq = max(20, n // 10)
    series: dict[str, list[float]] = {k: [] for k in ("plain", "wb", "plain_cpu", "wb_cpu", "plain_seq", "wb_seq")}

    def plain_side() -> None:
        wall, cpu = per_call(lambda: _check(loop.batch(n, s.concurrency), expected_answers(n)), n)
        series["plain"].append(wall)
        series["plain_cpu"].append(cpu)
        if sequential:
            series["plain_seq"].append(per_call(lambda: loop.batch(n_seq, 1), n_seq)[0])

    def bench_side() -> None:
        wall, cpu = per_call(lambda: _check([r.text for r in run_sync(runner.run(requests, cache=False))],
                                            expected_answers(n)), n)
        series["wb"].append(wall)
        series["wb_cpu"].append(cpu)
        if sequential:
            series["wb_seq"].append(per_call(lambda: run_sync(_sequential(runner, requests[:n_seq])), n_seq)[0])

    try:
        loop.batch(s.concurrency, s.concurrency)  # warm up both sides
        run_sync(runner.run(requests[: s.concurrency], cache=False))
        for r in range(s.runs):
            alternate(r, plain_side, bench_side)
    finally:
        loop.close()
    _per_call_row(section, f"{sdk}: wall time per call, {n:,} calls at concurrency {s.concurrency}, 0 ms latency",
                  series["wb"], series["plain"])
    _per_call_row(section, f"{sdk}: CPU time per call (all threads), same runs", series["wb_cpu"], series["plain_cpu"])
    if sequential:
        _per_call_row(section, f"{sdk}: wall time per call, one call at a time ({n_seq} calls)", series["wb_seq"],
                      series["plain_seq"])


def _check(got: list[str], expected: list[str]) -> None:
    assert got == expected, "wrong answers"


def _per_call_row(section: Section, measure: str, bench: list[float], plain: list[float]) -> None:
    ratio = median(paired_ratios(bench, plain))
    extra = (ratio - 1) * median(plain) * 1000  # from the paired ratio, so the note agrees with the ratio column
    section.add(measure, f"{median(bench) * 1000:.2f} ms", f"{median(plain) * 1000:.2f} ms", f"{ratio:.2f}",
                note=f"ratio = workbench / plain (paired); the workbench {'adds' if extra >= 0 else 'saves'} "
                     f"~{abs(extra):.2f} ms a call")


async def _sequential(runner: Any, requests: Sequence[Any]) -> None:
    for request in requests:
        await runner.call(request, cache=False)


def instant_rows(section: Section, s: Settings) -> None:
    """The runner's own cost: an in-process provider that answers at once, with and without the runner."""
    import workbench as wb
    from workbench._portal import run_sync
    from workbench.providers import resolve

    from ._instant import register

    register()
    provider, _ = resolve("instant:echo")
    n = s.overhead_calls
    with tempfile.TemporaryDirectory(prefix="wb-bench-instant-") as tmp:
        runner = wb.Runner(log=Path(tmp) / "runs.sqlite", concurrency=s.concurrency, progress=False)
        requests = [runner.prepare("instant:echo", wb.Prompt(user="{q}"), {"q": f"q{i}"}) for i in range(n)]

        async def direct() -> None:
            semaphore = asyncio.Semaphore(s.concurrency)

            async def one(r: Any) -> None:
                async with semaphore:
                    await provider.complete("echo", r.messages, r.params)

            await asyncio.gather(*(one(r) for r in requests))

        run_sync(runner.run(requests[:50], cache=False))
        with_runner, without = [], []
        for _ in range(s.runs):
            with stopwatch() as t:
                run_sync(runner.run(requests, cache=False))
            with_runner.append(t[0] / n)
            with stopwatch() as t:
                run_sync(direct())
            without.append(t[0] / n)
    section.add("runner's own cost per call (instant in-process provider, log on disk)",
                f"{(median(with_runner) - median(without)) * 1000:.3f} ms",
                note=f"{median(with_runner) * 1000:.3f} ms a call through runner.run, {median(without) * 1000:.3f} ms "
                     "calling the provider under a semaphore")


# --- memory of a results frame and its plots --------------------------------------------------------------
def child_memory(rows: int) -> dict[str, Any]:
    """In a fresh interpreter: run a ``rows``-call experiment over the instant provider, then plot it.

    RSS is read before tracemalloc is switched on (its bookkeeping would inflate
    RSS); tracemalloc then measures a rebuild of the frame from the log and the
    plots again, which gives peaks that RSS cannot show.
    """
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from ._instant import register

    register()
    plots = _plots()
    log = Path(os.environ["WORKBENCH_DB"]).with_name("memory.sqlite")  # in the child's temporary folder
    exp = _memory_experiment(rows, pd, log)
    tiny = _memory_experiment(40, pd, log).run(progress=False, verbose=False)
    for plot in plots.values():  # load fonts and caches once, as any first plot in a kernel does
        plot(tiny)
    gc.collect()
    rss0 = rss_bytes()
    with stopwatch() as t:
        frame = exp.run(progress=False, verbose=False)
    gc.collect()
    rss1 = rss_bytes()
    times, figures = {}, []
    for name, plot in plots.items():
        with stopwatch() as pt:
            figures.append(plot(frame))
        times[name] = pt[0]
    gc.collect()
    rss2 = rss_bytes()
    rebuilt_peak = _traced(lambda: exp.run(progress=False, verbose=False))[1]  # every cell from the log
    held, peak = _traced(lambda: [plot(frame) for plot in plots.values()])
    return {"rows": len(frame), "columns": len(frame.columns), "run_s": t[0],
            "frame_bytes": int(frame.memory_usage(deep=True).sum()), "rss_frame": _delta(rss1, rss0),
            "rebuilt_peak": rebuilt_peak, "rss_plots": _delta(rss2, rss1), "plots_current": held,
            "plots_peak": peak, "plot_s": times, "figures": len(figures), "plots": list(plots),
            "errors": int(frame["error"].notna().sum())}


def _traced(fn: Any) -> tuple[int, int]:
    """Bytes still held by what ``fn()`` returned, and the peak while it ran (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    result = fn()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return held, peak


def _delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def _plots() -> dict[str, Any]:
    """The ``wb.plots`` functions that need only a scorer (``agreement`` also needs human ratings)."""
    import workbench as wb

    return {name: getattr(wb.plots, name) for name in ("scores", "sweep", "heatmap", "distribution", "pareto")}


def _memory_experiment(rows: int, pd: Any, log: Path) -> Any:
    """2 variants x 5 temperatures x cases x 5 repeats = ``rows`` calls, scored by exact match."""
    import workbench as wb

    cases = max(1, rows // 50)
    table = pd.DataFrame({"text": [f"review number {i}: it was fine" for i in range(cases)],
                          "expected": ["positive" if i % 2 else "negative" for i in range(cases)]})
    prompts = {"plain": wb.Prompt(user="Label this review: {text}"),
               "terse": wb.Prompt(system="Answer with one word.", user="Review: {text}\nLabel:")}
    return wb.Experiment(prompts, models="instant:echo", params={"temperature": [0.0, 0.5, 1.0, 1.5, 2.0]},
                         cases=table, scorers=[wb.scorers.exact_match()], repeats=5, name=f"memory-{rows}",
                         runner=wb.Runner(log=log, concurrency=64, progress=False))


def memory_rows(section: Section, s: Settings) -> None:
    m = child_json("memory", str(s.memory_rows))
    plot_total = sum(m["plot_s"].values())
    section.add(f"results DataFrame, {m['rows']:,} rows × {m['columns']} columns (pandas deep size)",
                f"{m['frame_bytes'] / MB:.1f} MB",
                note=f"building it again from the log peaks at {m['rebuilt_peak'] / MB:.1f} MB (tracemalloc); the "
                     f"first run ({m['run_s']:.1f} s, {m['rows']:,} calls over the instant provider) grew RSS by "
                     f"{_mb(m['rss_frame'])}, its high-water mark included")
    section.add(f"its {m['figures']} plots ({', '.join(m['plots'])}): memory",
                f"{m['plots_current'] / MB:.1f} MB held", note=f"tracemalloc: {m['plots_current'] / MB:.1f} MB held by "
                f"the figures, peak {m['plots_peak'] / MB:.1f} MB while drawing; RSS grew {_mb(m['rss_plots'])}")
    section.add("its plots: time", f"{plot_total:.2f} s",
                note=", ".join(f"{k} {v * 1000:.0f} ms" for k, v in m["plot_s"].items()))


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MB:.1f} MB"


def run(settings: Settings) -> list[Section]:
    section = import_section(settings)
    for part in (playground_rows, per_call_rows, instant_rows, memory_rows):
        with stopwatch() as t:
            part(section, settings)
        print(f"  {part.__name__} took {t[0]:.1f} s", file=sys.stderr, flush=True)
    return [section]


def main(argv: Sequence[str]) -> None:
    """Child entry point: ``playground <repeats>`` or ``memory <rows>``; prints one JSON line.

    Run logs go to a temporary folder, never to the user's default log.
    """
    kind, number = argv[0], int(argv[1])
    with tempfile.TemporaryDirectory(prefix="wb-bench-child-") as tmp:
        os.environ["WORKBENCH_DB"] = str(Path(tmp) / "runs.sqlite")
        result = child_playground(number) if kind == "playground" else child_memory(number)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
