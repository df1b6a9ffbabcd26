"""Benchmark 8: client CPU of a hosted call, the workbench against the plain SDK loops (issue 16).

Every row is a ratio measured in the same run against the plain ``AsyncOpenAI`` (or
``Mistral(...).chat.complete_async``) + ``asyncio.Semaphore`` loop, in interleaved rounds
(order swapped every other round; medians of the per-round ratios). "before" is the
workbench's former path, the SDK's response models (``provider.sdk_models = True``),
measured in the same rounds.

* client CPU per call at 0 ms latency (all threads of this process), OpenAI and Mistral;
* the same with tools in every request (OpenAI: two tool definitions and ``tool_choice``);
* throughput at 200 ms latency, concurrency 32 (``wb.Experiment`` over the runner);
* the whole process, each side a fresh interpreter: imports, setup and a 2 prompts x 250
  cases grid (500 calls) at 200 ms latency, concurrency 32: wall and CPU time.

Children run as ``python -m benchmarks.hosted grid <side> <base_url> <cases> <concurrency>`` and print JSON.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._common import REPO_ROOT, Section, Settings, median, paired_ratios, spread

TOOLS = [{"type": "function", "function": {"name": "get_order", "description": "Look an order up by its id.",
                                           "parameters": {"type": "object",
                                                          "properties": {"order_id": {"type": "string"}},
                                                          "required": ["order_id"]}}},
         {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"},
                                                                         "unit": {"enum": ["C", "F"]}},
                                                          "required": ["city"]}}}]
GRID_CASES = 250  # per prompt (issue 16's grid); quick mode: QUICK_GRID_CASES
QUICK_GRID_CASES = 16


def _cpu_per_call(fn: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / n


def _plain_with_tools(base_url: str) -> Any:
    """``AsyncOpenAI`` with the same two tools and ``tool_choice`` in every request."""
    from openai import AsyncOpenAI

    from .throughput import API_KEY, OPENAI_MODEL, PARAMS, STALL_TIMEOUT_S, PlainClient

    async def call(client: Any, text: str) -> str:
        r = await client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": text}],
                                                 tools=TOOLS, tool_choice="auto", **PARAMS)
        return r.choices[0].message.content or ""

    return PlainClient(AsyncOpenAI(api_key=API_KEY, base_url=base_url, timeout=STALL_TIMEOUT_S), call)


def cpu_rows(section: Section, s: Settings) -> None:
    """CPU per call at 0 ms latency: plain loop, the workbench before (SDK models) and now."""
    import workbench as wb
    from workbench._portal import run_sync
    from workbench.providers import get_provider

    from .throughput import STALL_TIMEOUT_S, BaselineLoop, FakeServers, plain_mistral, plain_openai, questions

    with tempfile.TemporaryDirectory(prefix="wb-bench-hosted-") as tmp, FakeServers(latency=0.0) as servers:
        base = servers.process
        cases = [("OpenAI", "openai", plain_openai(base.openai_base_url), s.overhead_calls, None),
                 ("Mistral", "mistral", plain_mistral(base.mistral_base_url), max(s.overhead_calls // 4, 64), None),
                 ("OpenAI with tools", "openai", _plain_with_tools(base.openai_base_url), s.overhead_calls, TOOLS)]
        for label, name, client, n, tools in cases:
            loop = BaselineLoop(client)
            provider = get_provider(name)
            model = {"openai": "openai:gpt-4o-mini", "mistral": "mistral:mistral-small-latest"}[name]
            runner = wb.Runner(log=Path(tmp) / f"{name}-{bool(tools)}.sqlite", concurrency=s.concurrency,
                               timeout=STALL_TIMEOUT_S, progress=False)
            params = wb.Params(temperature=0, tool_choice="auto") if tools else wb.Params(temperature=0)
            requests = [runner.prepare(model, wb.Prompt(user="{q}"), {"q": q}, params, tools=tools)
                        for q in questions(n)]

            def workbench(models: bool, requests: list[Any] = requests, runner: Any = runner,
                          provider: Any = provider) -> None:
                provider.sdk_models = models
                try:
                    results = run_sync(runner.run(requests, cache=False))
                finally:
                    provider.sdk_models = False
                assert all(r.error is None for r in results), results[0].error

            sides: dict[str, Callable[[], Any]] = {
                "plain": lambda loop=loop, n=n: loop.batch(n, s.concurrency),
                "before": lambda: workbench(True), "now": lambda: workbench(False)}
            series: dict[str, list[float]] = {k: [] for k in sides}
            try:
                for fn in sides.values():  # warm up: imports, clients, connections
                    fn()
                for r in range(s.runs):
                    order = list(sides) if r % 2 == 0 else list(sides)[::-1]
                    for key in order:
                        series[key].append(_cpu_per_call(sides[key], n))
            finally:
                loop.close()
            _cpu_row(section, label, n, s, series)


def _cpu_row(section: Section, label: str, n: int, s: Settings, series: dict[str, list[float]]) -> None:
    now = paired_ratios(series["now"], series["plain"])
    before = paired_ratios(series["before"], series["plain"])
    target = "≤ 0.8" if "tools" not in label else ""
    section.add(f"{label}: client CPU per call (all threads), {n:,} calls at concurrency {s.concurrency}, 0 ms "
                "latency", f"{median(series['now']) * 1000:.2f} ms", f"{median(series['plain']) * 1000:.2f} ms",
                f"{median(now):.2f}", target, (median(now) <= 0.8) if target else None,
                note=f"ratio = workbench / plain (paired); before (SDK response models): "
                     f"{median(series['before']) * 1000:.2f} ms, ratio {median(before):.2f}; "
                     + spread(now, "rounds"))


# --- throughput at 200 ms latency --------------------------------------------------------------------
def throughput_rows(section: Section, s: Settings) -> None:
    """``wb.Experiment`` (before and now) against the plain loop, 1,000 calls at 200 ms, concurrency 32."""
    from workbench.providers import get_provider

    from .throughput import BaselineLoop, FakeServers, WorkbenchSide, _warm_up, plain_openai, plain_run

    with tempfile.TemporaryDirectory(prefix="wb-bench-hosted-") as tmp, \
            FakeServers(s.latency, s.retry_after) as servers:
        loop = BaselineLoop(plain_openai(servers.process.openai_base_url))
        side = WorkbenchSide("openai:gpt-4o-mini", s, Path(tmp))
        provider = get_provider("openai")
        series: dict[str, list[float]] = {"plain": [], "before": [], "now": []}

        def workbench(models: bool) -> None:
            provider.sdk_models = models
            try:
                run = side.run(side.fresh("hosted")[0])
            finally:
                provider.sdk_models = False
            assert run.lost == 0, "answers lost"
            series["before" if models else "now"].append(run.wall_s)

        sides = [lambda: series["plain"].append(plain_run(loop, s)), lambda: workbench(True), lambda: workbench(False)]
        try:
            _warm_up(loop, side)
            for r in range(s.runs):
                for fn in sides if r % 2 == 0 else sides[::-1]:
                    fn()
        finally:
            loop.close()
    now = paired_ratios(series["plain"], series["now"])  # throughput ratio = plain wall / workbench wall
    before = paired_ratios(series["plain"], series["before"])
    section.add(f"OpenAI: throughput vs the plain loop, {s.calls:,} calls at {s.latency * 1000:g} ms latency, "
                f"concurrency {s.concurrency}", f"{median(series['now']):.2f} s", f"{median(series['plain']):.2f} s",
                f"{median(now):.3f}", "≥ 1.1", median(now) >= 1.1,
                note=f"ratio = plain wall / workbench wall (paired); before: {median(series['before']):.2f} s, ratio "
                     f"{median(before):.3f}; ideal {s.ideal_s:.2f} s; " + spread(now, "rounds"))


# --- the whole process ------------------------------------------------------------------------------------
def child_grid(side: str, base_url: str, cases_n: int, concurrency: int) -> dict[str, Any]:
    """In a fresh interpreter: import, set up and run the 500-call grid; wall and CPU time from the start."""
    if side == "plain":
        import asyncio

        from openai import AsyncOpenAI

        prompts = ["Answer briefly: {q}", "You are terse. {q}"]
        texts = [p.format(q=f"question {i}") for p in prompts for i in range(cases_n)]

        async def main() -> list[str]:
            client = AsyncOpenAI(api_key="test-key", base_url=base_url, timeout=15.0)
            semaphore = asyncio.Semaphore(concurrency)

            async def one(text: str) -> str:
                async with semaphore:
                    r = await client.chat.completions.create(model="gpt-4o-mini", temperature=0,
                                                             messages=[{"role": "user", "content": text}])
                    return r.choices[0].message.content or ""

            out = await asyncio.gather(*(one(t) for t in texts))
            await client.close()
            return out

        answers = asyncio.run(main())
        ok = sum(a.startswith("Echo: ") for a in answers)
    else:
        import pandas as pd

        import workbench as wb

        if side == "before":
            from workbench.providers import get_provider

            get_provider("openai").sdk_models = True
        cases = pd.DataFrame({"q": [f"question {i}" for i in range(cases_n)]})
        exp = wb.Experiment({"brief": wb.Prompt(user="Answer briefly: {q}"),
                             "terse": wb.Prompt(user="You are terse. {q}")},
                            models="openai:gpt-4o-mini", params={"temperature": 0}, cases=cases, name="grid",
                            runner=wb.Runner(concurrency=concurrency, timeout=15.0, progress=False))
        results = exp.run(progress=False, verbose=False)
        ok = int(results["error"].isna().sum())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"ok": ok, "calls": 2 * cases_n, "cpu_s": usage.ru_utime + usage.ru_stime}


def _grid_once(side: str, base_url: str, s: Settings) -> tuple[float, float]:
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "test-key", "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory(prefix="wb-bench-grid-") as tmp:
        env["WORKBENCH_DB"] = str(Path(tmp) / "runs.sqlite")
        start = time.perf_counter()
        command = [sys.executable, "-m", "benchmarks.hosted", "grid", side, base_url, str(_grid_cases(s)),
                   str(s.concurrency)]
        out = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"] == result["calls"], f"{side}: {result}"
    return wall, result["cpu_s"]


def _grid_cases(s: Settings) -> int:
    return QUICK_GRID_CASES if s.quick else GRID_CASES


def grid_rows(section: Section, s: Settings) -> None:
    from .throughput import FakeServers

    series: dict[str, list[tuple[float, float]]] = {"plain": [], "before": [], "now": []}
    with FakeServers(s.latency, s.retry_after) as servers:
        base_url = servers.process.openai_base_url
        for r in range(max(s.runs, 1)):
            order = list(series) if r % 2 == 0 else list(series)[::-1]
            for side in order:
                series[side].append(_grid_once(side, base_url, s))
    wall = {k: [w for w, _ in v] for k, v in series.items()}
    cpu = {k: [c for _, c in v] for k, v in series.items()}
    now, before = paired_ratios(wall["plain"], wall["now"]), paired_ratios(wall["plain"], wall["before"])
    cases = _grid_cases(s)
    section.add(f"whole process, {2 * cases} calls (2 prompts × {cases} cases, {s.latency * 1000:g} ms, "
                f"concurrency {s.concurrency}), fresh interpreter incl. imports: speed vs plain",
                f"{median(wall['now']):.2f} s", f"{median(wall['plain']):.2f} s", f"{median(now):.3f}", "≥ 1.0",
                median(now) >= 1.0,
                note=f"ratio = plain wall / workbench wall (paired); before: {median(wall['before']):.2f} s, ratio "
                     f"{median(before):.3f}; " + spread(now, "rounds"))
    cnow = paired_ratios(cpu["now"], cpu["plain"])
    cbefore = paired_ratios(cpu["before"], cpu["plain"])
    section.add("whole process: CPU time (user + system)", f"{median(cpu['now']):.2f} s",
                f"{median(cpu['plain']):.2f} s", f"{median(cnow):.2f}",
                note=f"ratio = workbench / plain (paired); before: {median(cpu['before']):.2f} s, "
                     f"ratio {median(cbefore):.2f}")


def run(settings: Settings) -> list[Section]:
    section = Section("10. Hosted calls: client CPU against the plain SDK loops")
    for part in (cpu_rows, throughput_rows, grid_rows):
        started = time.perf_counter()
        part(section, settings)
        print(f"  {part.__name__} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    section.notes.append(
        "Before = the workbench's former path (the SDK's response models: `chat.completions.create` / "
        "`chat.complete_async`), measured in the same rounds. Now = the SDK builds and sends each request, the "
        "answer is read once from its decoded JSON (`workbench/providers/_wire.py`, `_mistral_raw.py`).")
    return [section]


def main(argv: Sequence[str]) -> None:
    """Child entry point: ``grid <plain|before|now> <base_url> <cases> <concurrency>``; prints one JSON line."""
    if argv[0] == "grid":
        print(json.dumps(child_grid(argv[1], argv[2], int(argv[3]), int(argv[4]))))


if __name__ == "__main__":
    main(sys.argv[1:])
