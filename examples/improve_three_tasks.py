"""Measured prompt improvement on three course tasks, on the offline model (``local:smollm2``).

For each task (the naive prompts of exercises 01-extract-name, 01-quantity and
04-order-id, on 16 cases each built from templates), ``wb.improve`` runs one
round with one candidate (the first default operator: three few-shot examples
drawn from the train cases), chooses on 10 train cases and accepts only what the
paired test on 6 held-out cases confirms. The run is kept this small because the
machine it was measured on was shared by seven jobs on 2 cores (a call took
20-50 s instead of well under one); raise ``rounds`` and ``candidates`` on your own. The script prints,
per task: the baseline and accepted held-out scores with 95% CIs, the optimism gap,
the calls made, the wall time and the verdict; and writes them to
``examples/output/improve_three_tasks.json``.

    python examples/improve_three_tasks.py        # 3 x 32 calls at most

The run log is ``examples/output/improve.sqlite``: run it again and every call is
reused from it (which is also how an interrupted run resumes).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pandas as pd

import workbench as wb

OUT = Path(__file__).resolve().parent / "output"
N_CASES = 16

FIRST = ["Maria", "John", "Anna", "Peter", "Omar", "Laura", "David", "Sara", "Ken", "Lea", "Ines", "Tom", "Nina",
         "Ali", "Rosa", "Jan", "Eva", "Paul", "Mia", "Luca", "Yuki", "Ivan", "Zoe", "Hugo"]
LAST = ["Lopez", "Smith", "Berg", "Novak", "Haddad", "Chen", "Brown", "Ahmed", "Ito", "Roth", "Duval", "Meyer",
        "Rossi", "Khan", "Silva", "Jansen", "Weber", "Moreau", "Costa", "Sato", "Petrov", "Walsh", "Dubois", "Lund"]
NAME_FRAMES = ["Yesterday {n} called about a broken laptop.", "The report was written by {n} last Monday.",
               "Please forward this letter to {n} in accounting.", "Our new manager, {n}, starts next week.",
               "The keys were returned by {n} this morning.", "{n} asked for a refund on Friday."]
THINGS = ["chairs", "boxes of paper", "tickets", "licences", "lamps", "pens", "sofas", "mugs", "cables", "desks"]
QTY_FRAMES = ["I ordered {q} {t} and a table.", "Please send {q} {t} to the office.", "We need {q} {t} for Monday.",
              "The client bought {q} {t} last year.", "Add {q} more {t} to my order, please.",
              "Could you deliver {q} {t} by 3 May?"]
ORDER_FRAMES = ["Hello, my order {o} arrived broken. Please call me on 555-0{d}.",
                "I paid {d}.90 euros on 12 March for order {o} and nothing came.",
                "Order {o} is missing one item. My customer number is 7{d}.",
                "Hi! Can you check order {o}? It was due on Friday.",
                "The parcel for order {o} was left at the wrong address, flat {d}.",
                "We ordered twice: order {o} is the one to cancel, thanks."]


def name_cases(rng: random.Random) -> pd.DataFrame:
    rows = []
    for i in range(N_CASES):
        name = f"{FIRST[i]} {LAST[(i * 7) % len(LAST)]}"
        rows.append({"text": rng.choice(NAME_FRAMES).format(n=name), "expected": name})
    return pd.DataFrame(rows)


def quantity_cases(rng: random.Random) -> pd.DataFrame:
    rows = []
    for _ in range(N_CASES):
        q = rng.randint(2, 60)
        rows.append({"text": rng.choice(QTY_FRAMES).format(q=q, t=rng.choice(THINGS)), "expected": str(q)})
    return pd.DataFrame(rows)


def order_cases(rng: random.Random) -> pd.DataFrame:
    rows = []
    for i in range(N_CASES):
        order = f"{'ABCDEFGHJKLMNPRSTUVWXYZ'[i % 23]}-{rng.randint(1000, 9999)}"
        rows.append({"message": rng.choice(ORDER_FRAMES).format(o=order, d=rng.randint(100, 999)),
                     "expected": order})
    return pd.DataFrame(rows)


#: task -> (naive prompt from the course exercise, its parameters, the cases)
TASKS = {
    "01-extract-name": (wb.Prompt(user="Who is mentioned in this text? {text}"), name_cases),
    "01-quantity": (wb.Prompt(user="How many items are ordered in this text? {text}"), quantity_cases),
    "04-order-id": (wb.Prompt(user="What is the order number in this message? {message}"), order_cases),
}
PARAMS = {"temperature": 0.7, "max_tokens": 12}  # the exercises' starting parameters


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    runner = wb.Runner(log=OUT / "improve.sqlite", progress=False)
    figures = {}
    for task, (prompt, make_cases) in TASKS.items():
        cases = make_cases(random.Random(task))
        started = time.perf_counter()
        imp = wb.improve(prompt, cases, [wb.scorers.exact_match(strip_punctuation=True)], "local:smollm2",
                         params={**PARAMS, "seed": 0}, rounds=1, candidates=1, holdout=0.35, seed=0, runner=runner)
        s = imp.summary()
        s["wall_s"] = time.perf_counter() - started
        s["accepted_prompt"] = str(imp.best) if imp.improved else None
        s["accepted_params"] = imp.best_params if imp.improved else None
        figures[task] = s
        print(f"\n== {task}: {len(imp.train_cases)} train, {len(imp.holdout_cases)} held-out cases")
        print(imp.history[["round", "candidate", "proposer", "train_score", "holdout_score", "status"]]
              .to_string(index=False))
        best = (f"{s['best_holdout']:.2f} {_ci(s['best_holdout_ci'])}" if imp.improved else "nothing confirmed")
        gap = "n/a (nothing reached held-out)" if s["optimism_gap"] is None else f"{s['optimism_gap']:+.2f}"
        print(f"baseline held-out {s['baseline_holdout']:.2f} {_ci(s['baseline_holdout_ci'])}; accepted: {best}; "
              f"optimism gap {gap}; {s['calls_made']} calls made ({s['calls_reused']} reused); "
              f"{s['wall_s']:.0f} s")
        print(imp.verdict)
    (OUT / "improve_three_tasks.json").write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
