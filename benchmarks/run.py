"""The one benchmark command: ``python -m benchmarks [--quick] [--output PATH]``.

Runs every benchmark and writes the results table into ``benchmarks/README.md``
(between its markers) or into ``--output``. ``--quick`` runs everything at
small sizes in well under a minute: it proves the benchmarks still work (CI
runs it through ``tests/test_benchmarks_quick.py``); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ._common import REPO_ROOT, Section, Settings, environment, load_average
from ._report import header, render, write_between_markers

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "README.md"
BENCHMARKS = ("throughput", "local", "overhead", "batch", "tokens", "parallel", "structured", "hosted")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: a smoke test")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="markdown file to write the table into, between its markers (default: %(default)s)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append",
                        help="run only this benchmark (repeatable); the table then holds only its rows")
    parser.add_argument("--max-load", type=float, default=None,
                        help="before starting, wait until the 1-minute load average is below this")
    parser.add_argument("--wait", type=float, default=1800.0,
                        help="longest wait for --max-load, in seconds; then run anyway (default: %(default)s)")
    return parser.parse_args(argv)


def wait_for_quiet(max_load: float | None, longest_s: float) -> None:
    """Timings on a busy machine measure the other jobs; give them a chance to finish."""
    if max_load is None:
        return
    deadline = time.monotonic() + longest_s
    while (load := load_average()) is not None and load[0] >= max_load and time.monotonic() < deadline:
        print(f"load average {load[0]:.2f} >= {max_load}: waiting...", file=sys.stderr, flush=True)
        time.sleep(30)


def _runners() -> dict[str, Callable[[Settings], list[Section]]]:
    from . import batch, hosted, local_model, local_parallel, overhead, structured, throughput, tokens

    return {"throughput": throughput.run, "local": local_model.run, "overhead": overhead.run, "batch": batch.run,
            "tokens": tokens.run, "parallel": local_parallel.run, "structured": structured.run, "hosted": hosted.run}


def run_all(settings: Settings, only: Sequence[str] | None) -> list[Section]:
    runners = _runners()
    sections: list[Section] = []
    for name in only or BENCHMARKS:
        print(f"running {name}...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        sections += runners[name](settings)
        print(f"  {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # tests.fakeserver
    os.environ.setdefault("MPLBACKEND", "Agg")
    settings = Settings.quick_mode() if args.quick else Settings.full()
    wait_for_quiet(args.max_load, args.wait)
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_DB"] = str(Path(tmp) / "default-runs.sqlite")  # never the user's own log
        env = environment()
        started = time.perf_counter()
        sections = run_all(settings, args.only)
        elapsed = time.perf_counter() - started
    text = render(sections, header(env, load_average(), elapsed, settings.quick))
    write_between_markers(args.output, text)
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 0
