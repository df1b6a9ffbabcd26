"""Benchmarks 1-3: throughput, rate limits and the cache, against the loopback fake server.

The fake OpenAI/Mistral server runs in a child process (``FakeServerProcess``)
so that it does not compete with the client for this interpreter's GIL. Each
round runs, back to back and in alternating order, the workbench
(``wb.Experiment`` over the runner) and the ceiling it is measured against: a
plain SDK loop with an ``asyncio.Semaphore`` in the same process, on the same
server, sending the same messages and parameters.

One round of the OpenAI benchmark is: plain loop, fresh experiment (the
throughput figure), the same experiment again (answered from the log), the
same cells under a new experiment name (answered from the runner's cache),
and a fresh experiment while the server answers 10% of requests with 429 and
``Retry-After`` (the rate-limit figure, compared with the fault-free run of
the same round).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import (
    Section,
    Settings,
    alternate,
    joined,
    median,
    paired_ratios,
    spread,
    stopwatch,
)

OPENAI_MODEL = "gpt-4o-mini"
MISTRAL_MODEL = "mistral-small-latest"
API_KEY = "test-key"  # what the fake server accepts
PARAMS = {"temperature": 0}  # repeatable, so a rerun under a new name is answered by the runner's cache
#: Per-attempt timeout on both sides. Now and then an httpx2 connection pool (under both SDKs) loses a request
#: while it opens many connections at once: the fake server never receives it (a raw asyncio client never
#: loses one). Without a timeout that call would wait for the SDK's default (600 s for OpenAI, none for
#: Mistral); with it, the stall costs seconds and shows as one outlier run, which the median absorbs.
STALL_TIMEOUT_S = 15.0


def questions(n: int) -> list[str]:
    return [f"question {i}" for i in range(n)]


def expected_answers(n: int) -> list[str]:
    """The fake server echoes the last user message."""
    return [f"Echo: {q}" for q in questions(n)]


# --- the plain SDK loops (the ceiling) ----------------------------------------------------------
async def gather_limited(n: int, concurrency: int, call: Callable[[int], Awaitable[str]]) -> list[str]:
    """``n`` calls with at most ``concurrency`` in flight: the textbook semaphore loop.

    A call that times out (a lost request, see ``STALL_TIMEOUT_S``) is tried again, as the workbench's runner
    does; on the normal path this costs nothing.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with semaphore:
            for attempt in range(3):
                try:
                    return await call(i)
                except Exception as exc:
                    if attempt == 2 or "timeout" not in type(exc).__name__.lower():
                        raise
            raise AssertionError("unreachable")

    return await asyncio.gather(*(one(i) for i in range(n)))


class PlainClient:
    """A plain SDK client and the semaphore loop around it; ``aclose`` before its event loop closes."""

    def __init__(self, client: Any, call: Callable[[Any, str], Awaitable[str]]) -> None:
        self.client = client
        self.call = call
        self.texts = questions(100_000)

    def batch(self, n: int, concurrency: int) -> Awaitable[list[str]]:
        return gather_limited(n, concurrency, lambda i: self.call(self.client, self.texts[i]))

    async def aclose(self) -> None:
        """Close the connection pool while its event loop still runs (both SDKs are async context managers)."""
        await self.client.__aexit__(None, None, None)


def plain_openai(base_url: str) -> PlainClient:
    """``AsyncOpenAI`` as its documentation shows it, pointed at the fake server."""
    from openai import AsyncOpenAI

    async def call(client: Any, text: str) -> str:
        r = await client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": text}],
                                                 **PARAMS)
        return r.choices[0].message.content or ""

    return PlainClient(AsyncOpenAI(api_key=API_KEY, base_url=base_url, timeout=STALL_TIMEOUT_S), call)


def plain_mistral(server_url: str) -> PlainClient:
    """``Mistral(...).chat.complete_async`` as its documentation shows it, pointed at the fake server."""
    try:
        from mistralai.client import Mistral  # mistralai >= 2
    except ImportError:
        from mistralai import Mistral  # type: ignore[no-redef,attr-defined]

    async def call(client: Any, text: str) -> str:
        r = await client.chat.complete_async(model=MISTRAL_MODEL, messages=[{"role": "user", "content": text}],
                                             **PARAMS)
        return str(r.choices[0].message.content)

    return PlainClient(Mistral(api_key=API_KEY, server_url=server_url, timeout_ms=int(STALL_TIMEOUT_S * 1000)), call)


class BaselineLoop:
    """One event loop in this thread for the plain loops, kept across rounds like the workbench's portal."""

    def __init__(self, client: PlainClient) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = client

    def batch(self, n: int, concurrency: int) -> list[str]:
        return self.run(self.client.batch(n, concurrency))

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()


# --- the workbench side ---------------------------------------------------------------------
@dataclass
class WorkbenchRun:
    """What one experiment run produced."""

    wall_s: float
    results: Any
    expected: int

    @property
    def lost(self) -> int:
        """Calls without a correct answer (missing rows, error rows or wrong text)."""
        n = len(self.results)
        ok = self.results["error"].isna() & (self.results["output"] == "Echo: " + self.results["q"])
        return int(n - ok.sum()) + max(0, self.expected - n)


@dataclass
class WorkbenchSide:
    """Builds and runs ``wb.Experiment`` s over the fake server, each with its own run log on disk."""

    model: str
    settings: Settings
    folder: Path
    counter: int = 0
    cases: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        import pandas as pd

        self.cases = pd.DataFrame({"q": questions(self.settings.calls)})

    def experiment(self, log: Path, name: str, cases: Any = None) -> tuple[Any, float]:
        """The benchmark's experiment (all the cases unless given) and the time its construction took."""
        import workbench as wb

        runner = wb.Runner(log=log, concurrency=self.settings.concurrency, timeout=STALL_TIMEOUT_S, progress=False)
        with stopwatch() as t:
            exp = wb.Experiment(wb.Prompt(user="{q}"), models=self.model, params=PARAMS,
                                cases=self.cases if cases is None else cases, name=name, runner=runner)
        return exp, t[0]

    def fresh(self, tag: str) -> tuple[Any, Path, float]:
        """A new experiment on a new, empty log (nothing to resume, nothing cached)."""
        self.counter += 1
        log = self.folder / f"{tag}-{self.counter}.sqlite"
        exp, build_s = self.experiment(log, f"{tag}-{self.counter}")
        return exp, log, build_s

    def run(self, exp: Any) -> WorkbenchRun:
        with stopwatch() as t:
            results = exp.run(progress=False, verbose=False)
        return WorkbenchRun(t[0], results, self.settings.calls)


# --- the fake server ------------------------------------------------------------------------
class FakeServers:
    """The out-of-process fake server, with the workbench's providers pointed at it."""

    def __init__(self, latency: float, retry_after: float = 1.0) -> None:
        from tests.fakeserver import FakeServerProcess

        self.process = FakeServerProcess(latency=latency, retry_after=retry_after)

    def __enter__(self) -> FakeServers:
        import workbench as wb
        from workbench.providers import reset_providers

        self.process.start()
        os.environ["OPENAI_BASE_URL"] = self.process.openai_base_url
        os.environ["MISTRAL_SERVER_URL"] = self.process.mistral_base_url
        wb.set_key("OPENAI_API_KEY", API_KEY)
        wb.set_key("MISTRAL_API_KEY", API_KEY)
        reset_providers()  # providers read the base URLs when they are created
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.stop()

    def faults(self, rate: float, seed: int) -> None:
        """Answer ``rate`` of the next requests with 429 + Retry-After (0 switches them off)."""
        self.process.reset()
        if rate:
            self.process.fault_rate(rate, kinds=["429"], seed=seed)

    def fault_count(self) -> int:
        return int(self.process.stats["faults_total"])


def _retries(log: Path) -> int:
    import workbench as wb

    rows = wb.RunLog(log).calls()
    return int(rows["attempts"].sum() - len(rows))


# --- benchmark 1 (OpenAI), 2 and 3 ----------------------------------------------------------------
Series = dict[str, list[float]]


def plain_run(loop: BaselineLoop, s: Settings) -> float:
    with stopwatch() as t:
        answers = loop.batch(s.calls, s.concurrency)
    assert answers == expected_answers(s.calls), "the plain loop got wrong answers"
    return t[0]


def workbench_runs(side: WorkbenchSide, r: int, series: Series) -> None:
    """A fresh experiment; the same again (every cell in the log); the same cells under a new name (cache)."""
    exp, log, build_s = side.fresh("throughput")
    first = side.run(exp)
    series["wb"].append(first.wall_s)
    series["build"].append(build_s)
    series["lost"].append(first.lost)
    rerun = side.run(exp)
    assert exp.last_run["reused"] == side.settings.calls and rerun.lost == 0, exp.last_run
    series["resume"].append(rerun.wall_s)
    renamed, _ = side.experiment(log, f"cache-{r}")
    cached = side.run(renamed)
    assert cached.results["cached"].all() and cached.lost == 0, "the runner's cache did not answer every cell"
    series["cache"].append(cached.wall_s)


def rate_limited_run(side: WorkbenchSide, servers: FakeServers, r: int, series: Series) -> None:
    """A fresh experiment while the server answers ``fault_rate`` of requests with 429 + Retry-After."""
    servers.faults(side.settings.fault_rate, seed=r)
    try:
        exp, log, _ = side.fresh("ratelimit")
        run = side.run(exp)
        series["faults"].append(servers.fault_count())
    finally:
        servers.faults(0.0, seed=r)
    series["faulty"].append(run.wall_s)
    series["faulty_lost"].append(run.lost)
    series["retries"].append(_retries(log))


def openai_rounds(settings: Settings, servers: FakeServers, folder: Path) -> Series:
    """Interleaved rounds; returns every measured series by name."""
    loop = BaselineLoop(plain_openai(servers.process.openai_base_url))
    side = WorkbenchSide(f"openai:{OPENAI_MODEL}", settings, folder)
    series: Series = {k: [] for k in ("plain", "wb", "build", "lost", "resume", "cache", "faulty", "faulty_lost",
                                      "faults", "retries")}
    try:
        _warm_up(loop, side)
        for r in range(settings.runs):
            alternate(r, lambda: series["plain"].append(plain_run(loop, settings)),
                      lambda: workbench_runs(side, r, series))  # noqa: B023 - called at once, in this iteration
            rate_limited_run(side, servers, r, series)
    finally:
        loop.close()
    return series


def mistral_rounds(settings: Settings, servers: FakeServers, folder: Path) -> Series:
    loop = BaselineLoop(plain_mistral(servers.process.mistral_base_url))
    side = WorkbenchSide(f"mistral:{MISTRAL_MODEL}", settings, folder)
    series: Series = {"plain": [], "wb": [], "lost": []}

    def workbench() -> None:
        run = side.run(side.fresh("mistral")[0])
        series["wb"].append(run.wall_s)
        series["lost"].append(run.lost)

    try:
        _warm_up(loop, side)
        for r in range(settings.runs):
            alternate(r, lambda: series["plain"].append(plain_run(loop, settings)), workbench)
    finally:
        loop.close()
    return series


def _warm_up(loop: BaselineLoop, side: WorkbenchSide) -> None:
    """Import the SDKs, create the clients and open connections on both sides before timing anything."""
    n = side.settings.concurrency
    loop.batch(n, n)
    exp, _ = side.experiment(side.folder / f"warm-up-{side.model}.sqlite", "warm-up", side.cases.head(n))
    exp.run(progress=False, verbose=False)


# --- reporting ---------------------------------------------------------------------------------
def _throughput_rows(section: Section, series: Series, s: Settings, sdk: str) -> None:
    ideal = s.ideal_s
    wb_eff = [ideal / w for w in series["wb"]]
    plain_eff = [ideal / w for w in series["plain"]]
    ratio = paired_ratios(series["plain"], series["wb"])  # workbench throughput / plain throughput
    eff_ok = median(wb_eff) >= 0.9
    section.add(f"wall time, {s.calls:,} calls ({s.latency * 1000:g} ms latency, concurrency {s.concurrency})",
                f"{median(series['wb']):.2f} s", f"{median(series['plain']):.2f} s",
                note=joined(f"ideal {ideal:.2f} s", spread(series["wb"], "workbench runs", " s"),
                            spread(series["plain"], "plain runs", " s")))
    section.add("efficiency = ideal / wall", f"{median(wb_eff):.3f}", f"{median(plain_eff):.3f}",
                target="≥ 0.90", met=eff_ok)
    section.add(f"throughput vs plain {sdk} loop (paired)", "", "", f"{median(ratio):.3f}", "≥ 0.90",
                median(ratio) >= 0.9, note=spread(ratio, "rounds"))
    lost = int(sum(series["lost"]))
    section.add("answers lost or wrong", f"{lost} of {s.calls * len(series['lost']):,}", target="0", met=lost == 0)


def report_openai(series: Series, s: Settings) -> list[Section]:
    one = Section("1. Throughput: OpenAI SDK")
    _throughput_rows(one, series, s, "AsyncOpenAI")
    one.add(f"building the {s.calls:,}-cell wb.Experiment (validation, rendering)", f"{median(series['build']):.3f} s",
            note="not part of the wall time above")

    two = Section("2. Rate limits")
    faults = int(sum(series["faults"]))
    lost = int(sum(series["faulty_lost"]))
    ratio = paired_ratios(series["faulty"], series["wb"])
    model = (s.calls + median(series["faults"])) * s.latency / s.concurrency \
        + median(series["faults"]) * s.retry_after / s.concurrency
    two.add(f"wall time with {s.fault_rate:.0%} of answers 429 (Retry-After {s.retry_after:g} s)",
            f"{median(series['faulty']):.2f} s", f"{median(series['wb']):.2f} s (fault-free)", f"{median(ratio):.2f}",
            note=f"{faults:,} × 429 in {len(series['faulty'])} runs, {int(sum(series['retries'])):,} retries; "
                 f"lower bound when a waiting call keeps its slot: {model:.2f} s")
    two.add("results lost", f"{lost} of {s.calls * len(series['faulty']):,}", target="0", met=lost == 0)

    three = Section("3. Cache")
    resume = paired_ratios(series["resume"], series["wb"])
    cache = paired_ratios(series["cache"], series["wb"])
    three.add(f"rerun of the {s.calls:,}-call experiment, answered from the log", f"{median(series['resume']):.3f} s",
              f"{median(series['wb']):.2f} s (first run)", f"{median(resume):.3f}")
    three.add("same cells under a new experiment name (runner cache: lookup + log row per call)",
              f"{median(series['cache']):.3f} s", f"{median(series['wb']):.2f} s (first run)", f"{median(cache):.3f}")
    return [one, two, three]


def report_mistral(series: Series, s: Settings) -> Section:
    section = Section("1. Throughput: Mistral SDK")
    _throughput_rows(section, series, s, "Mistral complete_async")
    section.notes.append(
        "The plain Mistral loop is far from the 0.90 efficiency target by itself: mistralai spends about 4-5 ms of "
        "CPU per call of its own (it builds pydantic models at run time on every call, in "
        "`utils.serializers.unmarshal`/`marshal_json`, and runs its hooks through `asyncio.to_thread`), so 1,000 "
        "calls keep the client's core busy for most of the ideal 6.25 s. The workbench is held to the ratio "
        "against that loop; it hands the SDK typed message objects, which skips the costliest of those model "
        "builds, so its CPU per call is a little below the plain loop's (see the CPU rows in 5. Overhead).")
    return section


def run(settings: Settings) -> list[Section]:
    """Benchmarks 1-3; returns their sections."""
    with (tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp,
          FakeServers(settings.latency, settings.retry_after) as servers):
        folder = Path(tmp)
        sections = report_openai(openai_rounds(settings, servers, folder), settings)
        sections.insert(1, report_mistral(mistral_rounds(settings, servers, folder), settings))
    return sections


__all__: Sequence[str] = [
    "BaselineLoop",
    "FakeServers",
    "PlainClient",
    "gather_limited",
    "plain_mistral",
    "plain_openai",
    "run",
]
