"""A real experiment on the offline model: does a precise, few-shot prompt classify sentiment better?

Runs two prompt variants of a sentiment classifier on 30 short reviews with
SmolLM2-135M (``local:smollm2``, no key or network needed), at temperature 0
and 0.7 with 3 repeats each, scores the answers with ``label_match``, prints the
summary and the paired comparison, and writes a self-contained HTML report and
the plots next to this file (``examples/output/``).

    python examples/local_experiment.py            # about 1-2 minutes on 2 cores

The run log is ``examples/output/runs.sqlite``: run the script again and every
call is reused from it (that is also how an interrupted run resumes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import workbench as wb

OUT = Path(__file__).resolve().parent / "output"

REVIEWS = [
    ("I absolutely loved this movie, the acting was superb.", "positive"),
    ("Terrible service, I will never come back.", "negative"),
    ("The food was delicious and the staff were friendly.", "positive"),
    ("This phone broke after two days. Waste of money.", "negative"),
    ("What a wonderful surprise, highly recommended!", "positive"),
    ("The book was boring and far too long.", "negative"),
    ("Great value for the price, works perfectly.", "positive"),
    ("The hotel room was dirty and smelled bad.", "negative"),
    ("My kids had a fantastic time at the park.", "positive"),
    ("The update made everything slower and buggier.", "negative"),
    ("Beautiful scenery and a very relaxing trip.", "positive"),
    ("The package arrived late and damaged.", "negative"),
    ("She sings like an angel, what a concert!", "positive"),
    ("I regret buying these shoes, they hurt.", "negative"),
    ("Excellent customer support, solved my problem fast.", "positive"),
    ("The movie was a complete disappointment.", "negative"),
    ("This is the best coffee I have ever had.", "positive"),
    ("The instructions were confusing and useless.", "negative"),
    ("A delightful little restaurant with great desserts.", "positive"),
    ("Awful sound quality, I returned the headphones.", "negative"),
    ("The course was clear, fun and really useful.", "positive"),
    ("Rude staff and a long wait. Not impressed.", "negative"),
    ("I am so happy with my new bike.", "positive"),
    ("The app crashes every time I open it.", "negative"),
    ("Lovely garden, friendly hosts, perfect weekend.", "positive"),
    ("The soup was cold and tasteless.", "negative"),
    ("Fast delivery and the quality is amazing.", "positive"),
    ("Worst flight of my life, seats were broken.", "negative"),
    ("The museum was fascinating, we stayed all day.", "positive"),
    ("Overpriced and underwhelming, skip it.", "negative"),
]

VAGUE = wb.Prompt(user="What do you think about this review? {review}")

PRECISE = wb.Prompt(
    system="You are a sentiment classifier. Reply with exactly one word: positive or negative.",
    user="Review: {review}\nSentiment:",
    # Order matters on a model this small: with a negative example last, SmolLM2 answered
    # "positive" to every review (accuracy 0.50); ending on a positive one it discriminates.
    examples=[
        ("Review: The screen cracked on the first day.\nSentiment:", "negative"),
        ("Review: The pizza was great and cheap.\nSentiment:", "positive"),
        ("Review: Boring plot and bad acting.\nSentiment:", "negative"),
        ("Review: Friendly people and a lovely view.\nSentiment:", "positive"),
    ],
)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cases = pd.DataFrame(REVIEWS, columns=["review", "expected"])
    runner = wb.Runner(log=OUT / "runs.sqlite")
    experiment = wb.Experiment(
        prompts={"vague": VAGUE, "precise": PRECISE},
        models=["local:smollm2"],
        params={"temperature": [0, 0.7], "max_tokens": 8},
        cases=cases,
        scorers=[wb.scorers.label_match(["positive", "negative"]), wb.scorers.word_count(max=2)],
        repeats=3,
        name="sentiment-vague-vs-precise",
        runner=runner,
    )
    results = experiment.run()

    summary = wb.summarize(results, "label_match")
    print("\nlabel_match by variant and temperature (mean over 30 cases, 95% bootstrap CI):")
    print(summary[["variant", "temperature", "mean", "ci_low", "ci_high", "pass_at_k", "repeat_sd"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for temperature in (0, 0.7):
        print(f"\nAt temperature {temperature}:")
        print(wb.compare(results, "vague", "precise", "label_match", temperature=temperature))
    print("\nBoth temperatures pooled:")
    print(wb.compare(results, "vague", "precise", "label_match"))

    for name in ("scores", "sweep", "heatmap", "distribution", "pareto"):
        getattr(wb.plots, name)(results, scorer="label_match").savefig(OUT / f"{name}.png", dpi=110)
    wb.results_to_csv(results, OUT / "results.csv")
    report = wb.report_html(results, OUT / "report.html", title="Sentiment on SmolLM2-135M: vague vs precise prompt")
    print(f"\nReport: {report}\nPlots and results: {OUT}")


if __name__ == "__main__":
    main()
