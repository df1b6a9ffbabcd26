"""Exports: results as CSV/JSON, a self-contained HTML report, an experiment as promptfoo YAML.

Everything written passes through :func:`workbench._keys.redact`, so a key
that slipped into a prompt, an answer or an error message never leaves in a
shared file. The HTML report embeds its plots as base64 PNG and has no
external links, so it can be mailed or attached to a ticket as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import string
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import plots
from ._errors import WorkbenchError
from ._export_tools import add_tools_to_providers, promptfoo_turns
from ._htmlparts import MESSAGES_CSS, VERDICT_CSS, ReportPath, comparison_html, messages_html, prompt_messages
from ._keys import redact, redact_frame
from ._params import Params
from ._stats import compare, design_columns, param_columns, score_columns, summarize
from ._types import split_model
from .providers import get_provider

if TYPE_CHECKING:
    import pandas as pd

    from ._experiment import Experiment

__all__ = ["results_to_csv", "results_to_json", "report_html", "to_promptfoo"]


def _redacted(results: pd.DataFrame) -> pd.DataFrame:
    """Every text cell redacted (a frame built by hand, or read back from an old CSV, may hold keys)."""
    return redact_frame(results)


def results_to_csv(results: pd.DataFrame, path: str | Path) -> Path:
    """Write the results table as UTF-8 CSV (keys redacted); returns the path."""
    path = Path(path)
    _redacted(results).to_csv(path, index=False)
    return path


def results_to_json(results: pd.DataFrame, path: str | Path) -> Path:
    """Write the results as a JSON list of row objects (keys redacted; NaN -> null); returns the path."""
    path = Path(path)
    _redacted(results).to_json(path, orient="records", force_ascii=False, indent=1)
    return path


# --- HTML report ---------------------------------------------------------------------------
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;box-sizing:border-box}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555} table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3} tbody td:first-child{min-width:10em} td{padding:3px 5px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.table-wrap{max-width:100%;overflow-x:auto}
.verdict{background:#f6f9fc;border-left:4px solid #0072B2;padding:.5em .8em;margin:.6em 0}
.verdict.sig{border-color:#009E73} figure{margin:1em 0} figure img{max-width:100%}
figcaption{color:#555;font-size:.9em} pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap}
.error{color:#D55E00} .verdict .wb-verdict{margin:0;padding:0;border:0;background:none;max-width:none}
""" + VERDICT_CSS + MESSAGES_CSS


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(results: pd.DataFrame, scorers: list[str]) -> list[tuple[str, str | None, str]]:
    """(caption, base64 PNG, "") for every plot that applies to these results; (caption, None, why)
    for one that applies but could not be drawn, so the rest of the report is still written."""
    wanted: list[tuple[str, Any]] = [(f"Mean {s} by variant", lambda s=s: plots.scores(results, s)) for s in scorers]
    first = scorers[0]
    if any(results[p].nunique() > 1 for p in param_columns(results)):
        wanted.append((f"{first} across the parameter sweep", lambda: plots.sweep(results, scorer=first)))
    wanted.append((f"Distribution of {first}", lambda: plots.distribution(results, first)))
    if results["case_id"].nunique() <= 120:
        wanted.append((f"{first} per case", lambda: plots.heatmap(results, first)))
    wanted.append((f"Quality against cost or latency ({first})", lambda: plots.pareto(results, first)))
    if "rating" in results.columns and results["rating"].isin([1, -1]).any():
        wanted.append(("Judge against human ratings", lambda: plots.agreement(results)))
    out: list[tuple[str, str | None, str]] = []
    for caption, make in wanted:
        try:
            out.append((caption, _png(make()), ""))
        except WorkbenchError:
            continue  # that plot does not apply (say, no judge among the rated rows)
        except Exception as exc:  # noqa: BLE001 - one plot that fails to draw must not cost the whole report
            out.append((caption, None, f"{type(exc).__name__}: {str(exc).strip()[:300]}"))
    return out


def _figure_html(caption: str, png: str | None, why: str) -> str:
    if png is None:
        return (f"<figure><p class='meta'>This plot could not be drawn ({html.escape(redact(why))}). "
                "Fix: draw it in the notebook with wb.plots to see the full error.</p>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return (f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{png}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _comparisons(results: pd.DataFrame, scorers: list[str]) -> list[Any]:
    for column in ("variant", "model"):
        values = list(dict.fromkeys(results[column])) if column in results.columns else []
        if len(values) >= 2:
            out = []
            for scorer in scorers:
                for other in values[1:5]:
                    try:
                        out.append(compare(results, values[0], other, scorer, by=column))
                    except WorkbenchError:
                        continue
            return out
    return []


def _table_html(frame: pd.DataFrame) -> str:
    # a header may break after "_" (mean_latency_s), never inside a word: the table fits 1,280 px
    head = "".join(f"<th>{html.escape(str(c)).replace('_', '_<wbr>')}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            if isinstance(value, float):
                text = "" if math.isnan(value) else f"{value:.3g}"
                cells.append(f"<td class='num'>{text}</td>")
            else:
                cells.append(f"<td>{html.escape(redact('' if value is None else str(value)))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _examples(results: pd.DataFrame, scorers: list[str], limit: int) -> pd.DataFrame:
    columns = [c for c in design_columns(results) + ["case_id", "repeat", "expected", "output"] if c in results.columns]
    columns += [c for c in ("tool_calls", "parsed", "parse_error") if c in results.columns]  # issue 12
    columns += scorers + ["error"]
    sample = results.groupby("variant", sort=False).head(max(1, limit // max(1, results["variant"].nunique())))
    out = sample[columns].copy()
    out["output"] = out["output"].map(lambda t: t if not isinstance(t, str) or len(t) <= 300 else t[:297] + "...")
    return out


def report_html(results: pd.DataFrame, path: str | Path | None = None, *, title: str | None = None,
                examples: int = 24) -> Path | str:
    """A self-contained HTML report: summary table, verdicts, plots (embedded PNG), prompts, examples.

    Writes to ``path`` and returns it (a :class:`~pathlib.Path` that Jupyter shows as a link to
    the report); with ``path=None`` returns the HTML text.
    """
    scorers = score_columns(results)
    if not scorers:
        raise WorkbenchError("The results have no scorer columns to report. "
                             "Fix: run the experiment with scorers=[...].")
    attrs = results.attrs
    title = title or f"Experiment {attrs.get('name') or attrs.get('experiment_id') or ''}".strip()
    errors = int(results["error"].notna().sum()) if "error" in results else 0
    meta = (f"{len(results)} calls · variants: {', '.join(map(str, dict.fromkeys(results['variant'])))} · "
            f"models: {', '.join(map(str, dict.fromkeys(results['model'])))} · {results['case_id'].nunique()} cases · "
            f"{errors} errors · written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    parts = [f"<h1>{html.escape(redact(title))}</h1><p class='meta'>{html.escape(redact(meta))}</p>"]
    verdicts = _comparisons(results, scorers)
    if verdicts:
        parts.append("<h2>Verdicts</h2>")
        parts += [f"<div class='verdict{' sig' if c.significant else ''}'>{comparison_html(c, css=False)}</div>"
                  for c in verdicts]
    parts.append("<h2>Summary</h2>")
    summary = summarize(results)
    keep = [c for c in summary.columns if c not in ("k",)]
    parts.append(_table_html(summary[keep]))
    parts.append("<p class='meta'>mean: each case weighs the same (repeats averaged); CI: 95% bootstrap over cases; "
                 "pass_at_k: chance that one of k repeats passes; repeat_sd: spread between repeats of a case.</p>")
    if attrs.get("prompts"):
        parts.append("<h2>Prompts</h2>")
        for name, prompt in attrs["prompts"].items():
            parts.append(f"<h3>{html.escape(redact(str(name)))}</h3>{messages_html(prompt_messages(prompt))}")
    parts.append("<h2>Examples</h2>")
    parts.append(_table_html(_examples(results, scorers, examples)))
    body = "\n".join(parts)
    # images are added after every text part was redacted, so redaction never touches base64
    figures = "".join(_figure_html(*figure) for figure in _figures(results, scorers))
    marker = "<h2>Summary</h2>"
    body = body.replace(marker, f"<h2>Plots</h2>{figures}\n{marker}", 1)
    document = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(redact(title))}</title>"
                f"<style>{_CSS}</style></head><body>{body}</body></html>")
    if path is None:
        return document
    path = ReportPath(path)
    path.write_text(document, encoding="utf-8")
    return path


# --- promptfoo -----------------------------------------------------------------------------------
_NUNJUCKS_MARKS = ("{{", "}}", "{%", "%}", "{#", "#}")


def _raw(text: str, *, after_var: bool, before_var: bool) -> str:
    """Literal text for Nunjucks: kept verbatim in a raw block when Nunjucks could read any of it as a tag,
    also together with the ``{{name}}`` written next to it (a ``{`` just before one, a ``}`` just after)."""
    risky = (any(mark in text for mark in _NUNJUCKS_MARKS) or (before_var and text.endswith("{"))
             or (after_var and text.startswith("}")))
    return "{% raw %}" + text + "{% endraw %}" if risky else text


def _nunjucks(template: str) -> str:
    """A ``str.format`` template as a promptfoo (Nunjucks) one: ``{name}`` -> ``{{name}}``.

    Literal text is escaped on the *joined* text between two placeholders: ``str.format`` hands a
    literal ``{{x}}`` over as separate ``{``, ``{x}``, ``}`` pieces, none of which looks like Nunjucks
    on its own, but which promptfoo would read as a variable when written back together.
    """
    out: list[str] = []
    literal = ""
    for text, name, _, _ in string.Formatter().parse(template):
        literal += text
        if name is None:
            continue
        out.append(_raw(literal, after_var=bool(out), before_var=True))
        literal = ""
        out.append("{{" + name + "}}")
    out.append(_raw(literal, after_var=bool(out), before_var=False))
    return "".join(out)


def _promptfoo_prompt(name: str, prompt: Any) -> dict[str, Any]:
    messages = []
    if prompt.system:
        messages.append({"role": "system", "content": _nunjucks(prompt.system)})
    for q, a in prompt.examples:
        messages += [{"role": "user", "content": _nunjucks(q)}, {"role": "assistant", "content": _nunjucks(a)}]
    messages += promptfoo_turns(prompt, _nunjucks)  # a conversation's turns (issue 12)
    if prompt.user or not prompt.messages:
        messages.append({"role": "user", "content": _nunjucks(prompt.user)})
    return {"label": name, "raw": json.dumps(messages, ensure_ascii=False)}


def _promptfoo_provider(model: str, combo: dict[str, Any]) -> dict[str, Any] | None:
    """One promptfoo provider entry for ``model`` at one parameter setting (None if promptfoo cannot call it).

    The request body carries exactly the parameters the workbench sends, in the provider's own wire
    names (OpenAI's max_completion_tokens, Mistral's random_seed); an unset one is left out, not sent
    as promptfoo's default (``omitDefaults``: promptfoo would send temperature 0 and max_tokens 1024).
    """
    provider_name, name = split_model(model)
    provider = get_provider(provider_name)
    wire = provider.map_params(Params.build(**{k: v for k, v in combo.items() if k != "n"}))
    settings = ", ".join(f"{k}={v}" for k, v in combo.items())
    label = model + (f" ({settings})" if settings else "")
    openai_config: dict[str, Any] = {"omitDefaults": True, **({"passthrough": wire} if wire else {})}
    if provider_name == "openai":
        return {"id": f"openai:chat:{name}", "label": label, "config": openai_config}
    if provider_name == "mistral":
        return {"id": f"mistral:{name}", "label": label, "config": wire}
    base_url = getattr(provider, "base_url", None)
    if provider_name != "local" and base_url:
        config = {"apiBaseUrl": base_url, **openai_config}
        if provider.key_env:
            config["apiKeyEnvar"] = provider.key_env
        return {"id": f"openai:chat:{name}", "label": label, "config": config}
    return None


def _header(experiment: Experiment, skipped_models: list[str], skipped_scorers: list[str],
            python_scorers: list[str], judges: list[str]) -> list[str]:
    """The comment at the top: how to run the file, and everything that is not carried over."""
    notes = [f"# Exported from prompt-workbench ({datetime.now(timezone.utc):%Y-%m-%d}). "
             "Run: npx promptfoo eval -c <this file>"]
    if python_scorers:
        notes.append(f"# Scorers {', '.join(python_scorers)} run as python assertions calling prompt-workbench's own "
                     "scorers (same verdicts): set PROMPTFOO_PYTHON to a Python with prompt-workbench installed.")
    for model in dict.fromkeys(skipped_models):
        notes.append(f"# Not exported: {model} runs inside the workbench; serve it with an OpenAI-compatible server "
                     "(e.g. llama.cpp's llama-server) and add it as an openai:chat provider with apiBaseUrl.")
    if skipped_scorers:
        notes.append(f"# Not exported (no promptfoo equivalent): scorers {', '.join(skipped_scorers)}; "
                     "write them as javascript or python assertions.")
    if judges:
        notes.append(f"# Judges {', '.join(judges)} exported as promptfoo's llm-rubric, which grades with promptfoo's "
                     "own prompt and pass mark: their verdicts may differ from the workbench's.")
    dropped_n = sorted({int(c["n"]) for c in experiment.grid if c.get("n") not in (None, 1)})
    if dropped_n:
        notes.append(f"# Not exported: n={', '.join(map(str, dropped_n))} (promptfoo scores one answer per test); "
                     "use evaluateOptions.repeat for several answers.")
    if any(split_model(m)[0] == "mistral" for m in experiment.models):
        notes.append("# promptfoo's mistral provider sends top_p=1 and max_tokens=1024 where the workbench leaves "
                     "them unset (set them in the experiment to make both send the same).")
    return notes


def to_promptfoo(experiment: Experiment, path: str | Path | None = None) -> Path | str:
    """The experiment as a promptfoo config (``promptfooconfig.yaml``), for CI pipelines.

    Prompts become chat prompts with ``{{variables}}`` (literal braces kept literal), each model and
    parameter setting a provider sending the same parameters (unset ones left out), each case a
    test (``expected`` kept as a var), repeats ``evaluateOptions.repeat``. Built-in scorers become
    python assertions calling the same scorer, so promptfoo's verdicts are the workbench's. What
    promptfoo cannot express (the in-process local model, custom Python scorers, ``n``) is listed
    in a comment at the top. Writes ``path`` and returns it, or returns the YAML text when
    ``path`` is None.
    """
    providers, skipped_models = [], []
    for model in experiment.models:
        for combo in experiment.grid:
            entry = _promptfoo_provider(model, combo)
            if entry is None:
                skipped_models.append(model)
            else:
                providers.append(entry)
    asserts: list[dict[str, Any]] = []
    skipped_scorers: list[str] = []
    python_scorers: list[str] = []
    judges: list[str] = []
    for scorer in experiment.scorers:
        spec = getattr(scorer, "promptfoo", None)
        name = getattr(scorer, "name", "?")
        if not spec:
            skipped_scorers.append(name)
            continue
        asserts.append({**dict(spec), "metric": name})
        (python_scorers if spec.get("type") == "python" else judges).append(name)
    tests = []
    for case_id, row in experiment.cases.iterrows():
        values = {k: (None if isinstance(v, float) and math.isnan(v) else v.item() if hasattr(v, "item") else v)
                  for k, v in row.items()}
        tests.append({"description": f"case {case_id}", "vars": values})
    notes_12 = add_tools_to_providers(experiment, providers)  # tools and response_format per provider (issue 12)
    config: dict[str, Any] = {
        "description": f"prompt-workbench experiment {experiment.experiment_id}",
        "prompts": [_promptfoo_prompt(name, p) for name, p in experiment.prompts.items()],
        "providers": providers,
        "defaultTest": {"assert": asserts} if asserts else {},
        "tests": tests,
    }
    if experiment.repeats > 1:
        config["evaluateOptions"] = {"repeat": experiment.repeats}
    notes = _header(experiment, skipped_models, skipped_scorers, python_scorers, judges)
    notes += notes_12
    text = "\n".join(notes) + "\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)
    text = redact(text)
    if path is None:
        return text
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
