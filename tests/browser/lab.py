"""Page helpers for driving ipywidgets in JupyterLab and Voila with Playwright.

Plain functions taking a Playwright :class:`~playwright.sync_api.Page`, so a
test reads as the steps a person takes::

    from . import lab

    def test_playground_runs(page, voila_server):
        voila_server.write_notebook("pg.ipynb", [PLAYGROUND_CELL])
        lab.open_voila(page, voila_server, "pg.ipynb")
        lab.fill_textarea(page, "pg-prompt", "Say hi")
        lab.set_slider(page, "pg-temperature", 0.2)
        lab.click_button(page, "Run")
        lab.wait_for_text(page, "pg-output", "hi")

Widgets are found by a CSS class the notebook gives them with
``widget.add_class("my-class")``; every ``css_class`` argument takes that
class name (``"my-class"``) or any CSS selector (``".my-class textarea"``).

The one race that matters (see the project's browser-testing guide):
ipywidgets 8 holds a widget's next value back until the kernel acknowledged
the previous one, but a button click goes out at once. A click sent too early
makes the kernel see a stale slider or text value. :func:`click_button`
therefore first calls :func:`wait_kernel_idle`, which waits until no kernel
message has been sent or received for ``settle_ms``.

JupyterLab helpers need ``--LabApp.expose_app_in_browser=True`` (the
``lab_server`` fixture sets it) for ``window.jupyterapp``. Voila 0.5 exposes
``window.jupyterapp`` too; its kernel is reached through the widget manager.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import ipywidgets
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .servers import LabServer, VoilaServer

#: Milliseconds to wait for a notebook page to load and its kernel to start.
OPEN_TIMEOUT_MS = 60_000
#: Milliseconds to wait for cells, clicks and widget updates.
WAIT_TIMEOUT_MS = 30_000
#: How long the kernel link must stay quiet before the next click (see module doc).
SETTLE_MS = 250

# Selectors shared by JupyterLab and Voila (both use JupyterLab's output area).
OUTPUT_AREA = ".jp-OutputArea-output"
STDERR_OUTPUT = f'{OUTPUT_AREA}[data-mime-type="application/vnd.jupyter.stderr"]'

#: Text an output area shows while a widget is still loading (transient).
LOADING_MARKERS = ("Loading widget",)
#: Texts an output area shows instead of a widget that failed (permanent).
ERROR_MARKERS = ("Error displaying widget", "model not found")

# --------------------------------------------------------------------------- #
# JavaScript run in the page
# --------------------------------------------------------------------------- #

#: Defines ``findKernel()``: the kernel of the notebook in JupyterLab's main
#: area, or Voila's single kernel (held by its widget manager).
_FIND_KERNEL_JS = """
const findKernel = () => {
  const app = window.jupyterapp;
  if (!app) return null;
  const widget = app.shell && app.shell.currentWidget;
  const ctx = widget && widget.sessionContext;
  if (ctx) return (ctx.session && ctx.session.kernel) || null;
  let manager = null;
  try { manager = app.widgetManager; } catch (e) { return null; }
  return (manager && manager._kernel) || null;
};
"""

#: True once the kernel has been idle, connected and silent for ``settle`` ms
#: and no JupyterLab prompt shows ``[*]``. The first call hooks the kernel's
#: message and status signals to time-stamp the last activity on it.
_KERNEL_QUIET_JS = (
    "(settle) => {"
    + _FIND_KERNEL_JS
    + """
  const kernel = findKernel();
  if (!kernel) return false;
  const now = performance.now();
  if (kernel.__pwLastActivity === undefined) {
    kernel.__pwLastActivity = now;
    const touch = () => { kernel.__pwLastActivity = performance.now(); };
    if (kernel.anyMessage) kernel.anyMessage.connect(touch);
    kernel.statusChanged.connect(touch);
    kernel.connectionStatusChanged.connect(touch);
  }
  if (kernel.status !== 'idle' || kernel.connectionStatus !== 'connected') return false;
  const prompts = document.querySelectorAll('.jp-InputPrompt, .jp-InputArea-prompt');
  for (const prompt of prompts) {
    if (prompt.textContent.includes('[*]')) { kernel.__pwLastActivity = now; return false; }
  }
  return now - kernel.__pwLastActivity >= settle;
}"""
)

#: True when JupyterLab shows notebook ``path`` with a started, idle, connected kernel.
_LAB_KERNEL_READY_JS = """(path) => {
  const app = window.jupyterapp;
  const widget = app && app.shell && app.shell.currentWidget;
  if (!widget || !widget.sessionContext || !widget.context) return false;
  if (widget.context.path !== path) return false;
  const ctx = widget.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  return ctx.isReady && !!kernel && kernel.status === 'idle'
    && kernel.connectionStatus === 'connected';
}"""

#: True when Voila removed its spinner, showed the cells and connected the kernel.
_VOILA_READY_JS = (
    "() => {"
    + _FIND_KERNEL_JS
    + """
  if (document.readyState !== 'complete') return false;
  if (document.getElementById('loading')) return false;
  const cells = document.getElementById('rendered_cells');
  if (!cells || cells.style.display === 'none') return false;
  const kernel = findKernel();
  return !!kernel && kernel.connectionStatus === 'connected';
}"""
)

#: Ask Voila to shut the page's kernel down (what its beforeunload beacon does).
_VOILA_SHUTDOWN_JS = (
    "async () => {"
    + _FIND_KERNEL_JS
    + """
  const kernel = findKernel();
  const base = document.body && document.body.dataset.baseUrl;  // ends in "voila/"
  if (!kernel || !base) return false;
  // The handler checks that the form's _xsrf equals the _xsrf cookie; Voila
  // never sets that cookie, so the beacon it sends itself is refused.
  let xsrf = (document.cookie.match(/\\b_xsrf=([^;]*)/) || [])[1];
  if (!xsrf) {
    xsrf = 'pw' + Math.random().toString(16).slice(2);
    document.cookie = `_xsrf=${xsrf}; path=/`;
  }
  const form = new FormData();
  form.append('_xsrf', xsrf);
  const response = await fetch(`${base}api/shutdown/${kernel.id}`, { method: 'POST', body: form });
  kernel.dispose();
  return response.ok;
}"""
)

#: Survey of the top-level output areas (those not inside an Output widget,
#: whose printed content is the app's business): how many widget views are
#: live, which areas still show a loading text, and which show a failure (an
#: error marker, or a ``text/plain`` output that is a widget's text form).
#: The text of Output widgets nested in an area is left out, so an app that
#: prints "Loading widget" or a widget repr cannot trip the check.
_WIDGET_SURVEY_JS = """([loadingMarkers, errorMarkers, fallbackPattern]) => {
  const fallback = new RegExp(fallbackPattern);
  const survey = { views: 0, loading: [], failed: [] };
  for (const area of document.querySelectorAll('.jp-OutputArea-output')) {
    if (area.parentElement && area.parentElement.closest('.jp-OutputArea-output')) continue;
    survey.views += area.querySelectorAll('.jupyter-widgets').length;
    const own = area.cloneNode(true);
    own.querySelectorAll('.widget-output').forEach((e) => e.remove());
    const text = (own.textContent || '').trim();
    const mime = area.getAttribute('data-mime-type');
    if (loadingMarkers.some((m) => text.includes(m))) survey.loading.push(text.slice(0, 300));
    else if (errorMarkers.some((m) => text.includes(m))) survey.failed.push(text.slice(0, 300));
    else if (mime === 'text/plain' && fallback.test(text)) survey.failed.push(text.slice(0, 300));
  }
  return survey;
}"""

#: True once the survey is settled: nothing loading, and a live view or a failure.
_WIDGETS_SETTLED_JS = (
    "(args) => { const survey = ("
    + _WIDGET_SURVEY_JS
    + ")(args); return survey.loading.length === 0"
    + " && (survey.views > 0 || survey.failed.length > 0); }"
)


# --------------------------------------------------------------------------- #
# Locating widgets
# --------------------------------------------------------------------------- #


def selector(css_class: str) -> str:
    """CSS selector for a widget class name (``"smoke-text"``) or a selector as given."""
    if re.fullmatch(r"-?[_a-zA-Z][\w-]*", css_class):
        return f".{css_class}"
    return css_class


def widget(page: Page, css_class: str) -> Locator:
    """Locator of the widget(s) carrying ``css_class`` (see :func:`selector`)."""
    return page.locator(selector(css_class))


# --------------------------------------------------------------------------- #
# Kernel state
# --------------------------------------------------------------------------- #


def wait_kernel_idle(
    page: Page, settle_ms: int = SETTLE_MS, timeout_ms: int = WAIT_TIMEOUT_MS
) -> None:
    """Wait until the kernel is idle and no message moved for ``settle_ms``.

    Works in JupyterLab (kernel of the current notebook) and Voila. Waiting
    for silence rather than for the status alone also covers a widget update
    the browser has sent but the kernel has not yet reported busy for.
    """
    try:
        page.wait_for_function(_KERNEL_QUIET_JS, arg=settle_ms, timeout=timeout_ms, polling=50)
    except PlaywrightTimeoutError as exc:
        raise AssertionError(
            f"kernel not idle for {settle_ms} ms within {timeout_ms} ms{_page_errors(page)}"
        ) from exc


def _page_errors(page: Page) -> str:
    """Tracebacks shown in output areas, to append to an error message."""
    try:
        texts = page.locator(STDERR_OUTPUT).all_inner_texts()
        texts += page.locator(".jp-RenderedText[data-mime-type*='error']").all_inner_texts()
    except PlaywrightError:
        return ""
    return ("\nerror output in the page:\n" + "\n".join(texts)) if texts else ""


# --------------------------------------------------------------------------- #
# JupyterLab
# --------------------------------------------------------------------------- #


def open_notebook(
    page: Page, server: LabServer, name: str, timeout_ms: int = OPEN_TIMEOUT_MS
) -> None:
    """Open notebook ``name`` (relative to the server's root) and wait for its kernel.

    The URL carries ``reset`` so a workspace saved by an earlier test cannot
    reopen other tabs.
    """
    page.goto(server.notebook_url(name), timeout=timeout_ms)
    wait_lab_kernel_ready(page, name, timeout_ms=timeout_ms)


def wait_lab_kernel_ready(page: Page, name: str, timeout_ms: int = OPEN_TIMEOUT_MS) -> None:
    """Wait until notebook ``name`` is current and its kernel started, idle and connected.

    Asks the application rather than the toolbar's status indicator, which
    can read idle before the kernel is connected.
    """
    try:
        page.wait_for_function(_LAB_KERNEL_READY_JS, arg=name, timeout=timeout_ms, polling=100)
    except PlaywrightTimeoutError as exc:
        raise AssertionError(f"JupyterLab kernel for {name} not ready in {timeout_ms} ms") from exc


def run_all_cells(page: Page, timeout_ms: int = WAIT_TIMEOUT_MS) -> None:
    """Run every cell of the current notebook, then wait for the kernel to settle.

    ``notebook:run-all-cells`` resolves once the cells have finished; it
    yields ``false`` when a cell raised, reported here with the traceback.
    """
    ok = page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    if ok is False:
        raise AssertionError(f"a cell failed while running all cells{_page_errors(page)}")
    wait_kernel_idle(page, timeout_ms=timeout_ms)


def run_notebook(
    page: Page, server: LabServer, name: str, timeout_ms: int = OPEN_TIMEOUT_MS
) -> None:
    """Open ``name`` in JupyterLab, run all cells and check the widgets rendered."""
    open_notebook(page, server, name, timeout_ms=timeout_ms)
    run_all_cells(page, timeout_ms=timeout_ms)
    assert_widgets_rendered(page, timeout_ms=timeout_ms)


# --------------------------------------------------------------------------- #
# Voila
# --------------------------------------------------------------------------- #


def open_voila(
    page: Page, server: VoilaServer, name: str, timeout_ms: int = OPEN_TIMEOUT_MS
) -> None:
    """Render ``name`` in Voila and wait until its widgets are live.

    Voila executes the notebook while streaming the page, so there is no
    "run all": the page's load event comes after the last cell ran.
    """
    page.goto(server.render_url(name), timeout=timeout_ms)
    wait_voila_rendered(page, timeout_ms=timeout_ms)


def wait_voila_rendered(page: Page, timeout_ms: int = OPEN_TIMEOUT_MS) -> None:
    """Wait for Voila's spinner to go, the kernel to connect and the widgets to render."""
    try:
        page.wait_for_function(_VOILA_READY_JS, timeout=timeout_ms, polling=100)
    except PlaywrightTimeoutError as exc:
        raise AssertionError(f"Voila page not ready in {timeout_ms} ms{_page_errors(page)}") from exc
    assert_widgets_rendered(page, timeout_ms=timeout_ms)
    wait_kernel_idle(page, timeout_ms=timeout_ms)


def shutdown_voila_kernel(page: Page) -> bool:
    """Shut the Voila page's kernel down, as Voila does when a tab is closed.

    Voila stops a kernel from a ``beforeunload`` handler, which Playwright
    does not run when it closes a context; without this every test would
    leave a kernel running until the server stops. Returns whether a kernel
    was found and shut down.
    """
    return bool(page.evaluate(_VOILA_SHUTDOWN_JS))


# --------------------------------------------------------------------------- #
# Widgets really rendered
# --------------------------------------------------------------------------- #


@lru_cache(maxsize=1)
def _fallback_pattern() -> re.Pattern[str]:
    """Regex for a widget's text form, e.g. ``VBox(children=(`` or ``IntSlider(value=3``.

    An output area shows that text instead of the widget when the widget
    extension did not load. Built from every ipywidgets widget class, plus any
    ``Name(children=(`` for the project's own containers, and anchored at the
    start: the fallback is the whole repr, while Voila renders top-level
    ``print`` output as ``text/plain`` too, which may mention a repr mid-text.
    """
    names = sorted(
        (
            name
            for name, obj in vars(ipywidgets).items()
            if isinstance(obj, type) and issubclass(obj, ipywidgets.Widget)
        ),
        key=len,
        reverse=True,
    )
    return re.compile(r"^\s*(?:(?:{})\((?:\w+=|\))|\w+\(children=\()".format("|".join(names)))


def assert_widgets_rendered(page: Page, timeout_ms: int = WAIT_TIMEOUT_MS) -> None:
    """Assert that widgets rendered as live views, not as loading or fallback text.

    Waits until no output area says "Loading widget", then fails if none
    holds a live widget view, or one shows an error or a widget's text form
    (``VBox(children=(...``, what JupyterLab shows when the widget extension
    is missing). Only output areas are checked, never cell sources, which
    legitimately contain such code.
    """
    args = [list(LOADING_MARKERS), list(ERROR_MARKERS), _fallback_pattern().pattern]
    try:
        page.wait_for_function(_WIDGETS_SETTLED_JS, arg=args, timeout=timeout_ms, polling=100)
    except PlaywrightTimeoutError as exc:
        survey = page.evaluate(_WIDGET_SURVEY_JS, args)
        raise AssertionError(
            f"widgets did not render within {timeout_ms} ms: {survey}{_page_errors(page)}"
        ) from exc
    survey = page.evaluate(_WIDGET_SURVEY_JS, args)
    assert not survey["failed"], f"output areas show failed widgets: {survey['failed']}"
    assert survey["views"] > 0, "no live widget view in any output area"


# --------------------------------------------------------------------------- #
# Interacting
# --------------------------------------------------------------------------- #


def fill_textarea(page: Page, css_class: str, text: str) -> None:
    """Replace the text of the Textarea (or Text) widget carrying ``css_class``.

    Leaves the field afterwards, so a widget with ``continuous_update=False``
    (which syncs only on change) sends its value too.
    """
    field = widget(page, css_class).locator("textarea, input")
    field.fill(text)
    field.blur()
    if field.input_value() != text:
        raise AssertionError(f"{css_class}: field holds {field.input_value()!r}, not {text!r}")


def set_slider(
    page: Page, css_class: str, value: float, timeout_ms: int = WAIT_TIMEOUT_MS
) -> None:
    """Set an Int/FloatSlider by typing into its readout, as a person can.

    Click the readout, select all, type, Enter; then wait until the readout
    shows ``value`` (a value out of range is clamped, and fails here).
    Needs the slider's readout (``readout=True``, the default).
    """
    number = widget(page, css_class).locator("input[type=number]")
    if number.count():
        # the workbench's sliders have a number box beside them instead of a readout
        number.first.fill(str(value))
        number.first.press("Enter")
        number.first.blur()
        page.wait_for_function("([el, v]) => Math.abs(parseFloat(el.value) - v) < 1e-9",
                               arg=[number.first.element_handle(), float(value)], timeout=timeout_ms)
        return
    readout = widget(page, css_class).locator(".widget-readout")
    readout.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")
    _wait_readout(page, readout, float(value), timeout_ms)


def _wait_readout(page: Page, readout: Locator, value: float, timeout_ms: int) -> None:
    """Poll the readout until it reads ``value`` (compared as numbers, format-agnostic)."""
    deadline_steps = max(1, timeout_ms // 50)
    shown = ""
    for _ in range(deadline_steps):
        shown = readout.inner_text().strip()
        try:
            if abs(float(shown) - value) <= 1e-9 * max(1.0, abs(value)):
                return
        except ValueError:
            pass
        page.wait_for_timeout(50)
    raise AssertionError(f"slider readout shows {shown!r}, not {value}")


def click_button(
    page: Page,
    name: str,
    scope: str | None = None,
    settle_ms: int = SETTLE_MS,
    timeout_ms: int = WAIT_TIMEOUT_MS,
) -> None:
    """Click the widget button labelled ``name`` once the kernel has settled.

    Searches inside output areas (or inside ``scope``, a class or selector),
    so JupyterLab's own toolbar buttons never match; the name must match
    exactly and only one button may match.
    """
    wait_kernel_idle(page, settle_ms=settle_ms, timeout_ms=timeout_ms)
    root = page.locator(selector(scope) if scope else OUTPUT_AREA)
    root.get_by_role("button", name=name, exact=True).click(timeout=timeout_ms)


def wait_for_text(
    page: Page, css_class: str, text: str, timeout_ms: int = WAIT_TIMEOUT_MS
) -> None:
    """Wait until an element matching ``css_class`` shows ``text`` (case-sensitive substring)."""
    matching = widget(page, css_class).filter(has_text=re.compile(re.escape(text)))
    try:
        matching.first.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeoutError as exc:
        shown = widget(page, css_class).all_inner_texts()
        raise AssertionError(
            f"{text!r} did not appear in {css_class} within {timeout_ms} ms; it shows {shown!r}"
            f"{_page_errors(page)}"
        ) from exc


def save_notebook_when_summary_shows(page: Page, text: str, timeout_ms: int = WAIT_TIMEOUT_MS) -> None:
    """Save the notebook once a widget's static summary (``.wb-fallback``) holds ``text``.

    The summary beside a widget follows its state through a display update
    that is throttled (0.3 s) and travels after the widget's own comm
    message: a save made the moment the live widget shows a change can
    still write the summary from before it.
    """
    try:
        page.wait_for_function(
            "t => [...document.querySelectorAll('.wb-fallback')].some(e => e.textContent.includes(t))",
            arg=text, timeout=timeout_ms, polling=100)
    except PlaywrightTimeoutError as exc:
        shown = page.evaluate("() => [...document.querySelectorAll('.wb-fallback')].map(e => e.textContent)")
        raise AssertionError(f"{text!r} did not reach the saved summary within {timeout_ms} ms; "
                             f"it holds {shown!r}") from exc
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_kernel_idle(page)


def output_text(page: Page, css_class: str | None = None) -> str:
    """Text of the Output widget(s) carrying ``css_class`` (all Output widgets if None).

    The class may be on the Output itself or on a container around it.
    """
    if css_class is None:
        sel = ".widget-output"
    else:
        sel = selector(css_class)
        sel = f"{sel}.widget-output, {sel} .widget-output"
    return "\n".join(t.strip() for t in page.locator(sel).all_inner_texts())


#: Where the browser tests leave the screenshots a person looks at.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def snap(page: Page, selector: str, name: str) -> None:
    """Screenshot the first element matching ``selector`` into ``SCREENSHOTS/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
