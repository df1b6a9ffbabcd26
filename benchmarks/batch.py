"""Batch mode against the loopback fake: client CPU time and peak memory to build and upload, and to collect.

``python -m benchmarks.batch [--calls 10000] [--online]`` prints one JSON object. The fake (chat and batch
endpoints) runs in a child process, so the figures are the client's alone: CPU time of this process
(every thread: the caller's and the portal's) and its peak resident memory (``ru_maxrss``, which includes
importing pandas, the SDKs and the workbench). ``--online`` also runs the same calls online (concurrency
32, no latency) as a baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                    "peak_rss_mb": round(_rss_mb(), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="cells: cases x 2 repeats (default %(default)s)")
    parser.add_argument("--process-s", type=float, default=2.0, help="the fake's batch processing time")
    parser.add_argument("--online", action="store_true", help="also run the same calls online as a baseline")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    server = subprocess.Popen([sys.executable, "-m", "tests.fakebatch", "--process-s", str(args.process_s)],
                              cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        os.environ["OPENAI_BASE_URL"] = url + "/v1"
        with tempfile.TemporaryDirectory(prefix="wb-batch-bench-") as tmp:
            os.environ["WORKBENCH_DB"] = str(Path(tmp) / "default.sqlite")
            (_, imported) = _phase(lambda: __import__("workbench"))
            import pandas as pd

            import workbench as wb

            wb.set_key("OPENAI_API_KEY", "test-key")
            runner = wb.Runner(log=Path(tmp) / "runs.sqlite", progress=False, concurrency=32)
            cases = pd.DataFrame({"id": [f"c{i}" for i in range(args.calls // 2)],
                                  "q": [f"question number {i} about something" for i in range(args.calls // 2)]})

            def experiment(name: str) -> wb.Experiment:
                return wb.Experiment({"p": wb.Prompt(system="Answer briefly.", user="Q: {q}")},
                                     models="openai:gpt-4o-mini", params={"max_tokens": 32, "temperature": 0.5},
                                     cases=cases, scorers=[wb.scorers.contains("Echo")], repeats=2, name=name,
                                     runner=runner)

            exp, build = _phase(lambda: experiment("batch"))
            job, submit = _phase(lambda: exp.submit(verbose=False))
            time.sleep(args.process_s + 0.5)  # the provider's work, not the client's
            results, collect = _phase(lambda: exp.run(batch=True, progress=False, verbose=False, poll_s=0.2))
            assert len(results) == args.calls and results["error"].isna().all(), results["error"].value_counts()
            out = {"calls": args.calls, "batches": len(job.submitted), "import": imported,
                   "build_experiment": build, "submit_build_and_upload": submit, "collect_into_dataframe": collect,
                   "batch_total_cpu_s": round(build["cpu_s"] + submit["cpu_s"] + collect["cpu_s"], 2)}
            if args.online:
                online_exp, _ = _phase(lambda: experiment("online"))
                online_results, online = _phase(lambda: online_exp.run(progress=False, verbose=False))
                assert online_results["error"].isna().all()
                out["online_run"] = online
            print(json.dumps(out, indent=1))
    finally:
        server.stdin.close()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
