"""Calibrate the course's exercises on the offline model: starter, reference and "the one recipe".

    python tools/calibrate_exercises.py [--threads 1] [--no-trick] [ID ...]

For each exercise (all by default) prints one JSON line: the pass rate of the
notebook's starter prompt, of the hidden reference solution (with its 95%
Wilson interval), and of "the trick": the starter with ``temperature=0`` and
``stop=["\\n"]``, the recipe that used to pass almost everything (issue 17).
On a sampled exercise the grader does not use the learner's temperature, so
the trick must stay near the starter's rate.

``tests/test_exercises.py`` re-measures starter and reference at 1 and 2
threads in CI; the trick is measured here only, because it costs a third run of
every exercise. Run one local-model process at a time on a 2-core machine (or
set ``WORKBENCH_THREADS_BATCH=1`` for each), or the threads spin against each other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _measure(exercise_id: str, log: Path, trick: bool) -> dict[str, object]:
    import workbench as wb
    from workbench import exercises as E

    runner = wb.Runner(log=log, progress=False)
    ex = E.get(exercise_id)
    started = time.perf_counter()
    starter = E.starter(exercise_id)
    solution = E.solution(exercise_id)
    naive = E.check(exercise_id, starter.prompt, "local:smollm2", runner=runner, **starter.params)
    reference = E.check(exercise_id, solution.prompt, "local:smollm2", runner=runner, **solution.params)
    row: dict[str, object] = {
        "id": exercise_id, "threads": os.environ.get("WORKBENCH_THREADS", "default"),
        "starter": round(naive.pass_rate, 3), "reference": round(reference.pass_rate, 3),
        "reference_ci": [round(x, 3) for x in reference.ci], "pass_mark": ex.threshold,
        "answers": len(reference.attempts),
    }
    if trick:
        params = {**starter.params, "temperature": 0, "stop": ["\n"]}
        try:
            row["trick"] = round(E.check(exercise_id, starter.prompt, "local:smollm2", runner=runner,
                                         **params).pass_rate, 3)
        except wb.ParamsError as exc:  # the exercise fixes one of them: the trick is refused before any call
            row["trick"] = f"refused: {exc}"
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["failures"] = reference.feedback(limit=3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="exercise ids (default: every prompt exercise)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (WORKBENCH_THREADS)")
    parser.add_argument("--no-trick", action="store_true", help="skip the starter + temperature 0 + stop run")
    args = parser.parse_args()
    if args.threads:
        os.environ["WORKBENCH_THREADS"] = str(args.threads)
    from workbench import exercises as E

    ids = args.ids or E.ids(kind="prompt")
    with tempfile.TemporaryDirectory() as tmp:
        for exercise_id in ids:
            row = _measure(exercise_id, Path(tmp) / f"{exercise_id}.sqlite", not args.no_trick)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
