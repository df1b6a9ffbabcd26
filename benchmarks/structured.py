"""Structured output and tool calling on the offline model (SmolLM2-135M), measured.

Person extraction, the same 20 texts three ways: unconstrained (asked for JSON in words), few-shot
(two worked examples), and constrained (``response_format=`` the schema: llama.cpp's grammar). A
valid answer is JSON that fits the schema, the whole answer (``r.parsed`` is not ``None``; the
unconstrained answers are parsed the same way, by ``parse_json_answer``); "lenient" also accepts
JSON found between the first ``{`` and the last ``}`` of a chattier answer; a correct one also
has the right name and age. Then tool picking: 20 requests, three tools, ``tool_choice=
"required"`` (the grammar makes every answer a well-formed call of one of the tools): right tool,
arguments valid against its schema, and the key argument right. Proportions with Wilson 95% CIs.

Also tokens/s with ``response_format`` vs without on the same prompts (target ratio >= 0.9).

Run: ``python -m benchmarks.structured [--out results.json]`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import workbench as wb
from workbench._stats import wilson_ci
from workbench._structured import parse_json_answer

MODEL = "local:smollm2"
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
PEOPLE = [
    ("Anna is 31 years old and lives in Oslo.", "Anna", 31),
    ("My neighbour Tom turned 45 last week.", "Tom", 45),
    ("Maria, aged 27, works as a nurse.", "Maria", 27),
    ("The winner was Kenji, a 19-year-old student.", "Kenji", 19),
    ("Priya is 52 and teaches chemistry.", "Priya", 52),
    ("At 68, George still runs every morning.", "George", 68),
    ("Lena celebrated her 40th birthday yesterday; she is 40 now.", "Lena", 40),
    ("Omar, 23, just finished university.", "Omar", 23),
    ("Our new manager, Sofia, is 36 years old.", "Sofia", 36),
    ("Lucas is a 12-year-old chess player.", "Lucas", 12),
    ("Grandma Edith is 89.", "Edith", 89),
    ("Hiro is 30 and plays the violin.", "Hiro", 30),
    ("The report was written by Fatima, who is 44.", "Fatima", 44),
    ("Ben (age 8) lost his first tooth.", "Ben", 8),
    ("Chloe is twenty-five; precisely, 25 years old.", "Chloe", 25),
    ("Ivan, 57, repairs old clocks.", "Ivan", 57),
    ("Nina is 33 years old.", "Nina", 33),
    ("Pedro turned 61 in March.", "Pedro", 61),
    ("The pilot, Aisha, is 38.", "Aisha", 38),
    ("Sam is 15 and loves football.", "Sam", 15),
]
ASK = ("Extract the person from the text as JSON with the keys name (a string) and age (an integer). "
       "Reply with the JSON only.")
FEW_SHOT = [("Text: Carl is 50 and drives a bus.", '{{"name": "Carl", "age": 50}}'),
            ("Text: Little Mia, 6, likes drawing.", '{{"name": "Mia", "age": 6}}')]  # braces doubled: text


@wb.tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@wb.tool
def get_order(order_id: str) -> str:
    """Look up the status of a customer's order by its order id."""
    return f"Order {order_id} has shipped"


@wb.tool
def convert_currency(amount: float, from_currency: str, to_currency: str) -> str:
    """Convert an amount of money from one currency to another."""
    return f"{amount} {from_currency} in {to_currency}"


TOOLS = [get_weather, get_order, convert_currency]
TOOL_CASES = [
    ("What's the weather like in Paris?", "get_weather", ("city", "Paris")),
    ("Is it raining in London right now?", "get_weather", ("city", "London")),
    ("Tell me the weather in Tokyo.", "get_weather", ("city", "Tokyo")),
    ("How hot is it in Cairo today?", "get_weather", ("city", "Cairo")),
    ("Weather forecast for Berlin please.", "get_weather", ("city", "Berlin")),
    ("Do I need an umbrella in Seattle?", "get_weather", ("city", "Seattle")),
    ("Where is my order A17?", "get_order", ("order_id", "A17")),
    ("Has order B2044 shipped yet?", "get_order", ("order_id", "B2044")),
    ("Check the status of order 98812.", "get_order", ("order_id", "98812")),
    ("I ordered something, the order number is X9. Where is it?", "get_order", ("order_id", "X9")),
    ("Track order ZZ-100 for me.", "get_order", ("order_id", "ZZ-100")),
    ("What happened to my order C77?", "get_order", ("order_id", "C77")),
    ("Convert 100 USD to EUR.", "convert_currency", ("amount", 100)),
    ("How many yen is 50 dollars?", "convert_currency", ("amount", 50)),
    ("Change 20 GBP into USD.", "convert_currency", ("amount", 20)),
    ("What is 75 euros in Swiss francs?", "convert_currency", ("amount", 75)),
    ("Convert 1000 JPY to USD please.", "convert_currency", ("amount", 1000)),
    ("I have 300 CAD, how much is that in EUR?", "convert_currency", ("amount", 300)),
    ("Weather in Madrid?", "get_weather", ("city", "Madrid")),
    ("Order 5521: is it delivered?", "get_order", ("order_id", "5521")),
]


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_ci(k, n)
    return {"k": k, "n": n, "rate": k / n, "ci95": [round(low, 3), round(high, 3)]}


def extraction() -> dict[str, Any]:
    plain = wb.Prompt(system=ASK, user="Text: {text}")
    shots = wb.Prompt(system=ASK, user="Text: {text}", examples=FEW_SHOT)
    out: dict[str, Any] = {}
    for label, prompt, fmt in (("unconstrained", plain, None), ("few-shot", shots, None),
                               ("constrained", plain, SCHEMA)):
        valid = lenient = correct = 0
        for text, name, age in PEOPLE:
            r = wb.complete(MODEL, prompt, text=text, temperature=0, max_tokens=60, response_format=fmt, cache=False)
            parsed = r.parsed if fmt is not None else parse_json_answer(r.text, SCHEMA)[0]
            inner = r.text[r.text.find("{"): r.text.rfind("}") + 1]
            lenient += parsed is not None or parse_json_answer(inner, SCHEMA)[0] is not None
            if parsed is not None:
                valid += 1
                correct += parsed.get("name") == name and parsed.get("age") == age
        out[label] = {"valid": _rate(valid, len(PEOPLE)), "valid_lenient": _rate(lenient, len(PEOPLE)),
                      "correct": _rate(correct, len(PEOPLE))}
        print(label, out[label], flush=True)
    return out


def tool_picking() -> dict[str, Any]:
    right = valid = right_args = 0
    for question, tool, (key, value) in TOOL_CASES:
        r = wb.complete(MODEL, question, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=80,
                        cache=False)
        call = r.tool_calls[0] if r.tool_calls else None
        if call is not None and call.name == tool:
            right += 1
            valid += call.valid
            got = (call.arguments or {}).get(key)
            right_args += call.valid and str(got).strip().lower() == str(value).lower() or got == value
    n = len(TOOL_CASES)
    out = {"right_tool": _rate(right, n), "right_tool_valid_args": _rate(valid, n),
           "right_tool_right_key_arg": _rate(right_args, n)}
    print("tools", out, flush=True)
    return out


def speed(pairs: int = 16) -> dict[str, Any]:
    """Tokens/s with response_format vs without: paired and interleaved.

    Each pair is the same prompt answered both ways back to back, the order swapped every other pair,
    so a change in the machine's load lands on both halves of a pair; the ratio is the median of the
    pairs' ratios (two earlier unpaired runs on a busy machine gave 0.74 and 1.79). Tokens/s is over the
    whole call (prompt and grammar set-up included), as a user waits for it.
    """
    prompt = wb.Prompt(system=ASK, user="Text: {text}")
    rates: dict[str, list[float]] = {"plain": [], "schema": []}
    runner = wb.Runner(log=False, progress=False)
    for i in range(pairs):
        text = PEOPLE[i % len(PEOPLE)][0]
        for label in (("plain", "schema") if i % 2 == 0 else ("schema", "plain")):
            r = wb.complete(MODEL, prompt, text=text, temperature=0, max_tokens=40, cache=False, runner=runner,
                            response_format=SCHEMA if label == "schema" else None)
            rates[label].append(r.usage.completion_tokens / r.latency_s)
    ratios = sorted(s / p for s, p in zip(rates["schema"], rates["plain"], strict=True))
    out = {"plain_tokens_per_s": round(sorted(rates["plain"])[pairs // 2], 1),
           "schema_tokens_per_s": round(sorted(rates["schema"])[pairs // 2], 1),
           "ratio": round(ratios[pairs // 2] if pairs % 2 else (ratios[pairs // 2 - 1] + ratios[pairs // 2]) / 2, 3),
           "ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)], "pairs": pairs}
    print("speed", out, flush=True)
    return out


def run(settings: Any) -> list[Any]:
    """The tokens/s row for ``python -m benchmarks --only structured``."""
    from ._common import Section

    out = speed(pairs=1 if settings.quick else 16)
    section = Section("9. Structured output on the local model")
    section.add("tokens/s with response_format vs without (same prompts, paired)", f"{out['schema_tokens_per_s']}",
                f"{out['plain_tokens_per_s']}", f"{out['ratio']:.2f}", "≥ 0.9", out["ratio"] >= 0.9,
                note=f"{out['pairs']} interleaved pairs; pair ratios {out['ratio_range'][0]}–{out['ratio_range'][1]}")
    return [section]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", choices=["extraction", "tools", "speed"], default=None)
    args = parser.parse_args()
    wb.configure(log=False, progress=False)
    results: dict[str, Any] = {}
    if args.only in (None, "extraction"):
        results["extraction"] = extraction()
    if args.only in (None, "tools"):
        results["tools"] = tool_picking()
    if args.only in (None, "speed"):
        results["speed"] = speed()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
