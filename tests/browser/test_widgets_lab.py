"""The widgets in a real JupyterLab: type a prompt, fill a variable, move a slider, run, watch it stream.

These tests drive ``wb.Playground``, ``wb.Compare`` and ``wb.Sweep`` in headless Chromium
against the offline model ``local:smollm2`` and check what a user sees: the
variable field that appears for ``{topic}``, the streamed answer, the
figures line, and that the kernel really ran with the values set in the
page (read back from the run log). The time from clicking Run to the first
streamed token is printed for the closing note.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import JupyterEnv, LabServer

PLAYGROUND_CELLS = [
    "import workbench as wb",
    (
        "pg = wb.Playground(wb.Prompt(system='You are a concise assistant.', user='Say hello.'),\n"
        "                   model='local:smollm2', max_tokens=48, seed=1)\n"
        "pg"
    ),
]

COMPARE_CELLS = [
    "import workbench as wb",
    (
        "cmp = wb.Compare({'terse': wb.Prompt(system='Answer in five words.', user='What is {thing}?'),\n"
        "                  'warm': wb.Prompt(system='You are a friendly teacher.',\n"
        "                                    user='Explain {thing} to a child.')},\n"
        "                 models='local:smollm2', max_tokens=40, seed=1)\n"
        "cmp"
    ),
]

#: Click the Run button from inside the page and time-stamp, with the page's
#: clock, the first moment any / every answer box shows newly streamed text
#: (text that differs from what the box showed before the click, or any text
#: once the box was emptied for the run: a one-token answer may be the same again).
_CLICK_AND_WATCH_JS = """([button, boxes]) => {
  const els = [...document.querySelectorAll(boxes)];
  const before = els.map((e) => e.innerText);
  const cleared = els.map(() => false);  // the box was emptied for the new run (its new text may equal the old)
  const state = { start: performance.now(), any: null, all: null, seen: [] };
  window.__wbTiming = state;
  const check = () => {
    els.forEach((e, i) => { if (e.innerText.trim() === '') cleared[i] = true; });
    const fresh = els.map((e, i) => !e.querySelector('.wb-placeholder') && e.innerText.trim() !== ''
                                    && (cleared[i] || e.innerText !== before[i]));
    const now = performance.now();
    const first = els[0].innerText;
    if (fresh[0] && state.seen[state.seen.length - 1] !== first) state.seen.push(first);
    if (state.any === null && fresh.some(Boolean)) state.any = now - state.start;
    if (state.all === null && fresh.every(Boolean)) state.all = now - state.start;
    if (!document.querySelector(button).disabled && state.all !== null) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  for (const e of els) observer.observe(e, { subtree: true, childList: true, characterData: true });
  document.querySelector(button).click();
  return els.length;
}"""


SCREENSHOTS = lab.SCREENSHOTS
_snap = lab.snap  # just the widget: JupyterLab scrolls inside the notebook, so a page shot shows its top only


def _click(page: Page, selector: str) -> None:
    """Click a widget button found by its class, after the kernel settled (see ``lab.click_button``)."""
    lab.wait_kernel_idle(page)
    page.locator(selector).click()


def _last_calls(db: Path, n: int) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (n,)).fetchall()
    return [dict(r) for r in rows]


def _click_and_time_first_token(page: Page, scope: str, answer_sel: str) -> tuple[float, float]:
    """Click Run once the kernel settled; seconds until the first, and until every, answer box streams.

    ``window.__wbTiming.seen`` keeps the successive texts of the first box,
    to check the answer arrived in pieces (streamed), not all at once.
    """
    lab.wait_kernel_idle(page)
    count = page.evaluate(_CLICK_AND_WATCH_JS, [f"{scope} button.wb-run", answer_sel])
    assert count >= 1, f"no answer box matches {answer_sel}"
    page.wait_for_function("() => window.__wbTiming && window.__wbTiming.all !== null",
                           timeout=lab.WAIT_TIMEOUT_MS * 3, polling=50)
    timing = page.evaluate("() => window.__wbTiming")
    return timing["any"] / 1000, timing["all"] / 1000


def _wait_done(page: Page, scope: str, count: int = 1) -> list[str]:
    """Wait until ``count`` figures lines are shown (the answers finished) and return them."""
    figures = page.locator(f"{scope} .wb-figures")
    page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null"
        " && e.innerText.includes('latency')).length >= n",
        arg=[f"{scope} .wb-figures", count], timeout=lab.WAIT_TIMEOUT_MS * 3, polling=100,
    )
    return [t for t in figures.all_inner_texts() if t.strip()]


@pytest.mark.browser
def test_playground_in_jupyterlab(page: Page, lab_server: LabServer, jupyter_env: JupyterEnv) -> None:
    lab_server.write_notebook("playground_lab.ipynb", PLAYGROUND_CELLS)
    lab.run_notebook(page, lab_server, "playground_lab.ipynb")
    pg = ".wb-playground"
    assert page.locator(f"{pg} .wb-var-topic").count() == 0

    lab.fill_textarea(page, f"{pg} .wb-user", "Tell me one fact about {topic}.")
    page.locator(f"{pg} .wb-var-topic").wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
    lab.fill_textarea(page, f"{pg} .wb-var-topic", "owls")
    lab.set_slider(page, f"{pg} .wb-param-temperature", 0.3)
    lab.assert_widgets_rendered(page)

    seconds, _ = _click_and_time_first_token(page, pg, f"{pg} .wb-answer")
    print(f"\nPlayground in JupyterLab: Run click -> first streamed token in {seconds:.2f} s (model load included)")
    figures = _wait_done(page, pg)
    final = page.locator(f"{pg} .wb-answer").inner_text().strip()
    seen = page.evaluate("() => window.__wbTiming.seen")
    assert len(seen) >= 3, f"the answer did not stream in pieces: {seen}"
    assert all(final.startswith(piece.strip()) for piece in seen if piece.strip()), (seen, final)
    assert "tokens in" in figures[0] and "latency" in figures[0] and "first token" in figures[0], figures
    assert page.locator(f"{pg} .wb-error:visible").count() == 0

    call = _last_calls(jupyter_env.workbench_db, 1)[0]
    request = json.loads(call["request_json"])
    assert call["status"] == "ok"
    assert request["temperature"] == pytest.approx(0.3)
    assert "owls" in request["messages"][-1]["content"]
    assert call["text"].strip() == final.strip()

    # rate the answer from the page: the rating lands in the run log
    _click(page, f"{pg} .wb-thumb-up")
    lab.fill_textarea(page, f"{pg} .wb-note", "clear and short")
    lab.wait_kernel_idle(page)
    with sqlite3.connect(jupyter_env.workbench_db) as conn:
        rating = conn.execute("SELECT rating, note FROM ratings WHERE call_id = ?", (call["id"],)).fetchone()
    assert rating == (1, "clear and short")
    _snap(page, pg, "playground_lab-widget")

    # once the model is loaded: the time a user waits on every later run
    lab.fill_textarea(page, f"{pg} .wb-var-topic", "whales")
    warm, _ = _click_and_time_first_token(page, pg, f"{pg} .wb-answer")
    print(f"Playground in JupyterLab (model already loaded): first streamed token in {warm:.2f} s")
    _wait_done(page, pg)

    # versions: save two, see the diff, load the first back
    page.locator(f"{pg} .wb-versions-box").get_by_text("Versions", exact=True).click()
    lab.fill_textarea(page, f"{pg} .wb-version-name", "v1")
    _click(page, f"{pg} button.wb-save-version")
    page.locator(f"{pg} .wb-versions option").first.wait_for(state="attached")
    lab.fill_textarea(page, f"{pg} .wb-system", "You are a concise assistant. Answer in one line.")
    lab.fill_textarea(page, f"{pg} .wb-version-name", "v2-one-line")
    _click(page, f"{pg} button.wb-save-version")
    lab.wait_for_text(page, f"{pg} .wb-diff-view", "Answer in one line.")
    assert page.locator(f"{pg} .wb-diff-add").count() >= 1 and page.locator(f"{pg} .wb-diff-del").count() >= 1
    _snap(page, f"{pg} .wb-versions-panel", "playground_lab-versions")


@pytest.mark.browser
def test_compare_in_jupyterlab(page: Page, lab_server: LabServer, jupyter_env: JupyterEnv) -> None:
    lab_server.write_notebook("compare_lab.ipynb", COMPARE_CELLS)
    lab.run_notebook(page, lab_server, "compare_lab.ipynb")
    cmp = ".wb-compare"
    assert page.locator(f"{cmp} .wb-variant").count() == 2
    page.locator(f"{cmp} .wb-var-thing").wait_for(state="visible")
    lab.fill_textarea(page, f"{cmp} .wb-var-thing", "a rainbow")
    lab.set_slider(page, f"{cmp} .wb-param-temperature", 0.2)

    first, every = _click_and_time_first_token(page, cmp, f"{cmp} .wb-variant .wb-answer")
    print(f"\nCompare in JupyterLab: Run click -> first token {first:.2f} s, in both columns {every:.2f} s "
          "(the local model answers one call at a time)")
    figures = _wait_done(page, cmp, count=2)
    assert len(figures) == 2 and all("tokens in" in f and "latency" in f for f in figures), figures
    texts = [t.strip() for t in page.locator(f"{cmp} .wb-variant .wb-answer").all_inner_texts()]
    assert all(texts) and texts[0] != texts[1], texts

    _snap(page, cmp, "compare_lab-widget")
    calls = _last_calls(jupyter_env.workbench_db, 2)
    variants = sorted(json.loads(c["tags_json"])["variant"] for c in calls)
    assert variants == ["terse", "warm"]
    assert all("a rainbow" in json.loads(c["request_json"])["messages"][-1]["content"] for c in calls)


SWEEP_CELLS = [
    "import workbench as wb\nfrom workbench import testing",
    (
        "judge = wb.scorers.llm_judge('The answer names a fruit.',\n"
        "                             model=testing.script('judge', ['SCORE: 4\\nit names one'] * 8))\n"
        "sw = wb.Sweep(wb.Prompt(user='Name a fruit.'), 'local:smollm2', values=[0, 1.2], repeats=2,\n"
        "              max_tokens=12, scorers=[judge])\n"
        "sw"
    ),
]


@pytest.mark.browser
def test_sweep_with_a_judge_measure_in_jupyterlab(page: Page, lab_server: LabServer, jupyter_env: JupyterEnv) -> None:
    """A Sweep measured by an LLM judge (a scripted mock judge): every point gets its score, the plot shows them."""
    lab_server.write_notebook("sweep_lab.ipynb", SWEEP_CELLS)
    lab.run_notebook(page, lab_server, "sweep_lab.ipynb")
    sweep = ".wb-sweep"
    page.locator(f"{sweep} .wb-sweep-measure select").select_option("judge")
    lab.wait_kernel_idle(page)
    _click(page, f"{sweep} button.wb-run")
    lab.wait_for_text(page, f"{sweep} .wb-run-status", "4/4 answered", timeout_ms=lab.WAIT_TIMEOUT_MS * 3)
    headers = page.locator(f"{sweep} .wb-group-header").all_inner_texts()
    assert [h.split(" · ")[0] for h in headers] == ["temperature = 0", "temperature = 1.2"], headers
    assert all("mean judge 0.8" in h and "(n=2)" in h for h in headers), headers  # SCORE 4 on 1-5: 0.75
    page.locator(f"{sweep} .wb-plot").wait_for(state="visible", timeout=lab.WAIT_TIMEOUT_MS)
    assert page.locator(f"{sweep} .wb-plot").evaluate("img => img.naturalWidth") >= 300
    assert page.locator(f"{sweep} .wb-error:visible").count() == 0
    lab.assert_widgets_rendered(page)
    _snap(page, sweep, "sweep_lab-judge")
    judged = [c for c in _last_calls(jupyter_env.workbench_db, 8) if json.loads(c["tags_json"]).get("judge")]
    assert judged, "the judge's calls were not logged with the sweep's"

    # a smaller rerun: the answer views are reused and the ones it drops are closed, in the page too
    lab.fill_textarea(page, "wb-sweep-values", "0")
    lab.wait_kernel_idle(page)
    _click(page, f"{sweep} button.wb-run")
    lab.wait_for_text(page, f"{sweep} .wb-run-status", "2/2 answered", timeout_ms=lab.WAIT_TIMEOUT_MS * 3)
    lab.wait_kernel_idle(page)
    headers = page.locator(f"{sweep} .wb-group-header").all_inner_texts()
    assert len(headers) == 1 and headers[0].startswith("temperature = 0 · mean judge 0.8"), headers
    answers = page.locator(f"{sweep} .wb-answer-view").all_inner_texts()
    assert len(answers) == 2 and all(a.strip() and "waiting" not in a for a in answers), answers
    assert page.locator(f"{sweep} .wb-error:visible").count() == 0
    _snap(page, sweep, "sweep_lab-rerun")


KEY_CELLS = [
    "import workbench as wb",
    "pg = wb.Playground('Summarise: {text}', 'mistral:mistral-small-latest', text='A long e-mail.')\npg",
]

#: Looks like a key to the redaction patterns and is unmistakable in a file.
BROWSER_KEY = "sk-browsertest-0123456789abcdefghijklmnop"


@pytest.mark.browser
def test_key_prompt_and_errors_in_jupyterlab(page: Page, lab_server: LabServer) -> None:
    """Missing key: one readable message, a password field; the key typed there is never saved."""
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    lab_server.write_notebook("keys_lab.ipynb", KEY_CELLS)
    lab.run_notebook(page, lab_server, "keys_lab.ipynb")
    pg = ".wb-playground"
    key_box = page.locator(f"{pg} .wb-key")
    assert key_box.is_visible() and "MISTRAL_API_KEY" in key_box.inner_text()

    _click(page, f"{pg} button.wb-run")
    lab.wait_for_text(page, f"{pg} .wb-error", "No API key for 'mistral'")
    error = page.locator(f"{pg} .wb-messages .wb-error").inner_text()
    assert "Fix:" in error and "Traceback" not in error
    _snap(page, pg, "keys_lab-missing-key")

    field = page.locator(f"{pg} .wb-key-input input")
    field.fill(BROWSER_KEY)
    field.press("Enter")
    lab.wait_for_text(page, f"{pg} .wb-info", "Key for MISTRAL_API_KEY set for this session")
    key_box.wait_for(state="hidden")
    assert page.locator(f"{pg} .wb-messages .wb-error:visible").count() == 0
    assert field.input_value() == ""
    _snap(page, pg, "keys_lab-widget")

    lab.wait_kernel_idle(page)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.wait_kernel_idle(page)
    saved = (lab_server.root_dir / "keys_lab.ipynb").read_text()
    assert "Summarise: {text}" in saved and BROWSER_KEY not in saved
    assert not any("Traceback" in line or BROWSER_KEY in line for line in console), console
