"""Issue 11, item 10: the promptfoo export means what the experiment means, checked with the real promptfoo CLI.

The experiment runs against the loopback fake OpenAI server; its ``to_promptfoo`` export is then run
by the real ``promptfoo eval`` (npm package, installed by ``./dev.sh test`` into
``.cache/npm-promptfoo``; this test installs it there too when it is missing) against the same server.
Every scorer's verdict on every row must agree. The answers are chosen where the old export changed
meaning: a full-match regex over an alternation, a regex flag, case, whitespace and NFKC forms,
an ambiguous label, a fuzzy match, literal ``{{x}}`` and ``{% if %}`` in the prompt (the server
answers "TEMPLATE BROKEN" unless it receives them verbatim), and an unset temperature (the server
answers "TEMPERATURE SENT" when a request carries one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer, message_text

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "npm-promptfoo"
PROMPTFOO = CACHE / "node_modules" / ".bin" / "promptfoo"
SYSTEM_SENT = "Keep {{x}} and {% if %} as they are."

ANSWERS = {  # case -> what the model answers (and what is expected)
    "a": ("yes", "yes"),
    "b": ("  YES  ", "yes"),            # case and surrounding space: exact_match passes
    "c": ("ｙｅｓ", "yes"),              # full-width: NFKC makes it 'yes'
    "d": ("yesterday no", "no"),         # '^yes|no$' would match; a full match does not
    "e": ("positive or negative", "positive"),  # two labels: ambiguous, not a hit
    "f": ("The answer is positive.", "positive"),
    "g": ("Paris is the capital", "the capital is Paris"),  # token_sort similarity 1.0
    "h": ("no", "yes"),
}


def _responder(body: dict) -> str:
    messages = body.get("messages") or []
    system = next((message_text(m.get("content")) for m in messages if m.get("role") == "system"), "")
    if system != SYSTEM_SENT:
        return "TEMPLATE BROKEN"
    if "temperature" in body:
        return "TEMPERATURE SENT"
    user = message_text(messages[-1].get("content"))
    return ANSWERS[user.removeprefix("Case ")][0]


def _promptfoo() -> Path:
    """The promptfoo CLI from the npm registry, installed once into .cache/npm-promptfoo (as ./dev.sh test does)."""
    if not PROMPTFOO.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed, so the promptfoo CLI cannot be. Fix: install Node.js 20+ with npm, "
                        "then run ./dev.sh test (it installs promptfoo into .cache/npm-promptfoo).")
        subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error",
                        "promptfoo"], check=True, timeout=900)
    return PROMPTFOO


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1", "PROMPTFOO_SELF_HOSTED": "1", "IS_TESTING": "",
        "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo-home"), "PROMPTFOO_CACHE_ENABLED": "false",
        "PROMPTFOO_PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "not-needed-by-the-fake",
        "NO_COLOR": "1",
    })
    return env


@pytest.mark.timeout(1200)
def test_promptfoo_cli_gives_the_workbench_verdicts(tmp_path, fresh_providers):
    cli = _promptfoo()
    cases = pd.DataFrame({"q": list(ANSWERS), "expected": [e for _, e in ANSWERS.values()]})
    scorers = [wb.scorers.exact_match(), wb.scorers.regex("yes|no", fullmatch=True),
               wb.scorers.regex("YES", flags=re.IGNORECASE, name="regex_i"),
               wb.scorers.label_match(labels=["positive", "negative"]), wb.scorers.similarity(threshold=0.9),
               wb.scorers.contains("{{x}}", name="braces")]
    prompt = wb.Prompt(system="Keep {{{{x}}}} and {{% if %}} as they are.", user="Case {q}")
    with FakeServer(api_key=None, responder=_responder) as server:
        wb.add_endpoint("fake", server.openai_base_url, models=["fake-model"])
        runner = wb.Runner(log=wb.RunLog(tmp_path / "runs.sqlite"), progress=False, max_retries=0)
        exp = wb.Experiment(prompt, models="fake:fake-model", cases=cases, scorers=scorers, runner=runner)
        ours = exp.run(progress=False, verbose=False)
        assert ours["error"].isna().all() and not ours["output"].str.contains("BROKEN|SENT").any(), ours["output"]
        config = wb.to_promptfoo(exp, tmp_path / "exported.yaml")
        out = tmp_path / "promptfoo.json"
        done = subprocess.run([str(cli), "eval", "-c", str(config), "--no-cache", "--no-write", "--no-table",
                               "--max-concurrency", "4", "-o", str(out)],
                              cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=900)
        seen = server.requests
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]["results"]
    assert len(rows) == len(ANSWERS), [r.get("error") for r in rows]
    theirs: dict[str, dict[str, bool]] = {}
    for row in rows:
        assert row.get("response"), row.get("error")  # an answer came back (b856de3: '{% if %}' broke every row)
        assert row["response"]["output"] == ANSWERS[row["vars"]["q"]][0], row["response"]  # same answer, same body
        verdicts = {c["assertion"]["metric"]: bool(c["pass"]) for c in row["gradingResult"]["componentResults"]}
        theirs[row["vars"]["q"]] = verdicts
    for _, r in ours.iterrows():
        mine = {s.name: bool(r[f"{s.name}_passed"]) if pd.notna(r[f"{s.name}_passed"]) else False for s in scorers}
        assert theirs[r["q"]] == mine, (r["q"], r["output"], mine, theirs[r["q"]])
        assert all(mine.values()) == all(theirs[r["q"]].values())  # the same pass/fail per row
    # the verdicts are not trivially equal: each scorer passes somewhere and fails somewhere
    for s in scorers:
        assert 0 < ours[f"{s.name}_passed"].fillna(False).sum() < len(ours) or s.name == "braces", s.name
    chats = [r["json"] for r in seen if r["path"].endswith("/chat/completions")]
    assert len(chats) == 2 * len(ANSWERS)  # ours, then promptfoo's: no cache on either side
    assert all("temperature" not in body and "max_tokens" not in body for body in chats), chats[-1]
