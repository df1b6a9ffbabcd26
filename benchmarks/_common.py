"""Shared pieces of the benchmarks: settings, result rows, timing statistics, the machine.

Every benchmark returns :class:`Row` objects; ``run.py`` turns them into one
markdown table. Timings are medians of several runs, and ratios are medians of
*paired* ratios (workbench run and baseline run made back to back, in
alternating order), so that drift in the machine's load cancels out instead
of landing on one side of the comparison.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("prompt-workbench", "openai", "mistralai", "httpx2", "llama-cpp-python", "pandas", "numpy",
            "matplotlib", "ipywidgets", "pydantic")


@dataclass(frozen=True)
class Settings:
    """Sizes of every benchmark; ``quick()`` is the CI smoke test, ``full()`` the published numbers."""

    quick: bool
    runs: int  # repetitions of each timed comparison (medians are taken over these)
    calls: int  # chat calls per throughput run (the issue asks for 1,000)
    latency: float  # seconds the fake server waits before each answer
    concurrency: int
    fault_rate: float  # share of responses that are 429 with Retry-After
    retry_after: float  # seconds, sent in the 429's Retry-After header
    overhead_calls: int  # calls per run at 0 ms latency (per-call overhead)
    local_prompts: int
    local_max_tokens: int
    import_runs: int
    memory_rows: int

    @classmethod
    def full(cls) -> Settings:
        return cls(quick=False, runs=5, calls=1000, latency=0.2, concurrency=32, fault_rate=0.1, retry_after=1.0,
                   overhead_calls=2000, local_prompts=4, local_max_tokens=128, import_runs=15, memory_rows=10_000)

    @classmethod
    def quick_mode(cls) -> Settings:
        return cls(quick=True, runs=1, calls=128, latency=0.05, concurrency=32, fault_rate=0.1, retry_after=0.1,
                   overhead_calls=200, local_prompts=1, local_max_tokens=16, import_runs=2, memory_rows=1_000)

    @property
    def ideal_s(self) -> float:
        """Wall time of ``calls`` at ``concurrency`` if nothing but the server's latency cost time."""
        return self.calls * self.latency / self.concurrency


@dataclass
class Row:
    """One line of the results table. Numbers are already formatted; ``met`` is None when there is no target."""

    section: str
    measure: str
    workbench: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Section:
    """A benchmark's rows plus anything it wants said under the table."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, measure: str, workbench: str, baseline: str = "", ratio: str = "", target: str = "",
            met: bool | None = None, note: str = "") -> Row:
        row = Row(self.name, measure, workbench, baseline, ratio, target, met, note)
        self.rows.append(row)
        return row


# --- statistics --------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratio of each pair made in the same round (drift between rounds cancels)."""
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d]


def spread(values: Sequence[float], label: str = "runs", unit: str = "") -> str:
    """``runs: min–max`` of a series, to show how noisy its median is ("" for a single value)."""
    if len(values) < 2:
        return ""
    return f"{label}: {min(values):.3g}–{max(values):.3g}{unit}"


def joined(*parts: str) -> str:
    """Non-empty parts, separated by semicolons."""
    return "; ".join(p for p in parts if p)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def alternate(round_index: int, first: Callable[[], Any], second: Callable[[], Any]) -> None:
    """Run both, swapping their order every other round, so neither always runs on a warmer machine."""
    for fn in (first, second) if round_index % 2 == 0 else (second, first):
        fn()


# --- the machine --------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """What a reader needs to judge the numbers: machine, load, date and versions."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load": load_average(),
        "versions": {p: version_of(p) for p in PACKAGES},
        "argv": " ".join(["python -m benchmarks", *sys.argv[1:]]),
    }


def rss_bytes() -> int | None:
    """Resident memory of this process now (Linux ``/proc``; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
