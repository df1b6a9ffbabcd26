"""Batch mode against the loopback fake: the client's CPU time and peak memory for 10,000 calls.

In ``python -m benchmarks`` (section 6) each side runs in a fresh interpreter of its own, against one fake
server (chat and batch endpoints, ``python -m tests.fakebatch``) in another process, so the figures are the
client's alone:

- **workbench**: ``wb.Experiment(...).submit()`` (build the JSONL, upload, create, log the batch and its
  cells), then ``exp.run(batch=True)`` (poll, download, write one log row per call, build the results table);
- **plain SDK** (the strongest baseline: nothing but what the job needs): build the same JSONL lines with
  ``json.dumps``, ``files.create`` / ``batches.create`` / ``batches.retrieve`` until completed /
  ``files.content`` with the ``openai`` SDK, and parse the output into a pandas DataFrame.

Both import pandas and the SDK before the clock starts; CPU time is this process's (every thread), peak
memory its peak resident set (VmHWM, imports included). Both poll every ``--poll-s`` seconds. Rounds alternate which
side runs first; the ratio is the median of the paired per-round ratios.

``python -m benchmarks.batch [--calls 10000] [--online]`` runs the workbench side alone and prints one JSON
object with its phases (``--online`` adds the same calls run online as a reference).
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SYSTEM, MODEL = "Answer briefly.", "gpt-4o-mini"
PARAMS = {"max_tokens": 32, "temperature": 0.5}
TARGET_CPU_S, TARGET_MB = 30.0, 500.0


def _question(i: int) -> str:
    return f"question number {i} about something"


def _rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM, which ``exec`` resets.

    ``ru_maxrss`` is not reset by ``exec`` on Linux, so a side started from a parent that had grown
    (a full benchmark run) reported the parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3),
                    "peak_rss_mb": round(_rss_mb(), 1)}


@contextmanager
def fake_batch_server(process_s: float) -> Iterator[str]:
    """The chat and batch fake in a child process (its own GIL); yields its base URL (without /v1)."""
    server = subprocess.Popen([sys.executable, "-m", "tests.fakebatch", "--process-s", str(process_s)],
                              cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


# --- the two sides, each in a fresh interpreter -------------------------------------------------------
def workbench_side(url: str, calls: int, poll_s: float, online: bool = False) -> dict[str, Any]:
    """``exp.submit()`` then ``exp.run(batch=True)``: every phase's CPU, wall and peak memory."""
    os.environ["OPENAI_BASE_URL"] = url + "/v1"
    (_, imported) = _phase(lambda: (__import__("openai"), __import__("pandas"), __import__("workbench")))
    import pandas as pd

    import workbench as wb

    wb.set_key("OPENAI_API_KEY", "test-key")
    with tempfile.TemporaryDirectory(prefix="wb-batch-bench-") as tmp:
        runner = wb.Runner(log=Path(tmp) / "runs.sqlite", progress=False, concurrency=32)
        cases = pd.DataFrame({"id": [f"c{i}" for i in range(calls // 2)],
                              "q": [_question(i) for i in range(calls // 2)]})

        def experiment(name: str) -> wb.Experiment:
            return wb.Experiment({"p": wb.Prompt(system=SYSTEM, user="Q: {q}")}, models=f"openai:{MODEL}",
                                 params=PARAMS, cases=cases, repeats=2, name=name, runner=runner)

        cpu0 = time.process_time()
        exp, build = _phase(lambda: experiment("batch"))
        job, submit = _phase(lambda: exp.submit(verbose=False))
        results, collect = _phase(lambda: exp.run(batch=True, progress=False, verbose=False, poll_s=poll_s))
        cpu = time.process_time() - cpu0
        assert len(results) == calls and results["error"].isna().all(), results["error"].value_counts()
        assert results["output"].str.startswith("Echo: Q: question number").all()
        out: dict[str, Any] = {
            "calls": calls, "batches": len(job.submitted), "import": imported, "build_experiment": build,
            "submit_build_and_upload": submit, "collect_into_dataframe": collect, "cpu_s": round(cpu, 3),
            "peak_rss_mb": round(_rss_mb(), 1)}
        if online:
            online_exp, _ = _phase(lambda: experiment("online"))
            online_results, ran = _phase(lambda: online_exp.run(progress=False, verbose=False))
            assert online_results["error"].isna().all()
            out["online_run"] = ran
    return out


def plain_side(url: str, calls: int, poll_s: float) -> dict[str, Any]:
    """The same job with the openai SDK alone: JSONL, upload, create, poll, download, parse into a DataFrame."""
    (_, imported) = _phase(lambda: (__import__("openai"), __import__("pandas")))
    import openai
    import pandas as pd

    cpu0 = time.process_time()
    client = openai.OpenAI(base_url=url + "/v1", api_key="test-key")
    lines = []
    for i in range(calls // 2):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Q: {_question(i)}"}]
        for repeat in range(2):
            lines.append(json.dumps({"custom_id": f"c{i}-r{repeat}", "method": "POST", "url": "/v1/chat/completions",
                                     "body": {"model": MODEL, "messages": messages, "max_completion_tokens": 32,
                                              "temperature": 0.5}}, separators=(",", ":")))
    data = ("\n".join(lines) + "\n").encode()
    uploaded = client.files.create(file=("batch.jsonl", data, "application/jsonl"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    submit_cpu = time.process_time() - cpu0
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(poll_s)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id, batch
    rows = []
    for raw in client.files.content(batch.output_file_id).content.splitlines():
        line = json.loads(raw)
        body = line["response"]["body"]
        rows.append({"custom_id": line["custom_id"], "output": body["choices"][0]["message"]["content"],
                     "prompt_tokens": body["usage"]["prompt_tokens"],
                     "completion_tokens": body["usage"]["completion_tokens"]})
    frame = pd.DataFrame(rows)
    cpu = time.process_time() - cpu0
    assert len(frame) == calls and frame["output"].str.startswith("Echo: Q: question number").all()
    client.close()
    return {"calls": calls, "import": imported, "submit_cpu_s": round(submit_cpu, 3), "cpu_s": round(cpu, 3),
            "peak_rss_mb": round(_rss_mb(), 1)}


def _child(side: str, url: str, calls: int, poll_s: float, *extra: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wb-batch-child-") as tmp:
        env = {**os.environ, "WORKBENCH_DB": str(Path(tmp) / "default.sqlite"), "MPLBACKEND": "Agg"}
        env.pop("OPENAI_API_KEY", None)
        done = subprocess.run([sys.executable, "-m", "benchmarks.batch", "--side", side, "--url", url, "--calls",
                               str(calls), "--poll-s", str(poll_s), *extra], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} side failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- section 6 of python -m benchmarks ----------------------------------------------------------------
def run(settings: Any) -> list[Any]:
    """10,000 calls (quick: 200) through the batch API, workbench vs plain SDK, rounds alternating."""
    from ._common import Section, alternate, joined, median, paired_ratios, spread

    calls = 200 if settings.quick else 10_000
    rounds = 1 if settings.quick else 3
    process_s, poll_s = (0.2, 0.1) if settings.quick else (2.0, 0.2)
    wb_runs: list[dict[str, Any]] = []
    plain_runs: list[dict[str, Any]] = []
    with fake_batch_server(process_s) as url:
        for r in range(rounds):
            alternate(r, lambda: wb_runs.append(_child("workbench", url, calls, poll_s)),
                      lambda: plain_runs.append(_child("plain", url, calls, poll_s)))
        online = _child("workbench", url, min(calls, 2000), poll_s, "--online")["online_run"]
    section = Section(f"6. Batch API: {calls:,} calls (OpenAI SDK, loopback fake)")
    wb_cpu, plain_cpu = [x["cpu_s"] for x in wb_runs], [x["cpu_s"] for x in plain_runs]
    wb_mb, plain_mb = [x["peak_rss_mb"] for x in wb_runs], [x["peak_rss_mb"] for x in plain_runs]
    cpu_ratio = median(paired_ratios(wb_cpu, plain_cpu))
    submit = median([x["submit_build_and_upload"]["cpu_s"] + x["build_experiment"]["cpu_s"] for x in wb_runs])
    collect = median([x["collect_into_dataframe"]["cpu_s"] for x in wb_runs])
    section.add("client CPU: build + upload + poll + download + results table (all threads)",
                f"{median(wb_cpu):.2f} s", f"{median(plain_cpu):.2f} s", f"{cpu_ratio:.2f}",
                f"< {TARGET_CPU_S:g} s" if not settings.quick else "",
                None if settings.quick else median(wb_cpu) < TARGET_CPU_S,
                joined(f"workbench: submit {submit:.2f} s, collect and table {collect:.2f} s",
                       f"plain: submit {median([x['submit_cpu_s'] for x in plain_runs]):.2f} s",
                       spread(wb_cpu, "workbench runs", " s"), "ratio = workbench / plain (paired)"))
    section.add("peak memory of the client process (RSS, imports included)", f"{median(wb_mb):.0f} MB",
                f"{median(plain_mb):.0f} MB", f"{median(paired_ratios(wb_mb, plain_mb)):.2f}",
                f"< {TARGET_MB:g} MB" if not settings.quick else "",
                None if settings.quick else median(wb_mb) < TARGET_MB,
                "the workbench side also holds its run log (SQLite) and the full results table")
    n_online = min(calls, 2000)
    section.add(f"for reference: the same kind of calls online, {n_online:,} calls at concurrency 32",
                f"{online['cpu_s'] / n_online * 1000:.2f} ms CPU per call",
                f"{median(wb_cpu) / calls * 1000:.2f} ms CPU per call in batch",
                note="online: wb.Experiment.run() against the same fake's chat endpoint, 0 ms latency")
    section.notes.append(
        f"Each side runs in its own fresh interpreter; {rounds} round(s), order alternating; the fake processes "
        f"a batch in {process_s:g} s and both sides poll every {poll_s:g} s. The plain side does only what the "
        "job needs (no run log, no resume, no cost, no case columns); the workbench side also writes one "
        "log row per call and builds the full results table.")
    return [section]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="cells: cases x 2 repeats (default %(default)s)")
    parser.add_argument("--process-s", type=float, default=2.0, help="the fake's batch processing time")
    parser.add_argument("--poll-s", type=float, default=0.2, help="seconds between status polls")
    parser.add_argument("--online", action="store_true", help="also run the same calls online as a reference")
    parser.add_argument("--side", choices=("workbench", "plain"), help=argparse.SUPPRESS)  # a child of run()
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    if args.side:
        side = workbench_side if args.side == "workbench" else plain_side
        extra = {"online": True} if args.online and args.side == "workbench" else {}
        print(json.dumps(side(args.url, args.calls, args.poll_s, **extra)))
        return 0
    with tempfile.TemporaryDirectory(prefix="wb-batch-bench-") as tmp, fake_batch_server(args.process_s) as url:
        os.environ["WORKBENCH_DB"] = str(Path(tmp) / "default.sqlite")
        print(json.dumps(workbench_side(url, args.calls, args.poll_s, online=args.online), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
