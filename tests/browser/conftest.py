"""Pytest fixtures for driving JupyterLab and Voila in headless Chromium.

Fixtures (costly ones are session-scoped and started only when a test asks):

* ``jupyter_env`` (session) -> :class:`servers.JupyterEnv`: private Jupyter,
  IPython, matplotlib and cache directories, a ``python3`` kernelspec running
  ``sys.executable``, the JupyterLab news pop-up disabled, and
  ``WORKBENCH_DB`` pointing at a temporary SQLite run log.
* ``lab_server`` (session) -> :class:`servers.LabServer`: JupyterLab with a
  token; ``url``, ``token``, ``root_dir``, ``log_path``,
  ``write_notebook(name, sources)``, ``copy_notebook(src, name=None)``,
  ``notebook_url(name)``, ``api(method, path, body=None)``.
* ``voila_server`` (session) -> :class:`servers.VoilaServer`: Voila with
  ``url``, ``root_dir``, ``log_path``, ``write_notebook(name, sources)``,
  ``copy_notebook(src, name=None)``, ``render_url(name)``.

  Both servers are shared by the session: give each test's notebook its own
  name.
* ``browser`` (session): Playwright Chromium (Debian's ``/usr/bin/chromium``);
  fails, not skips, when Chromium is missing.
* ``page`` (per test): a page in a fresh browser context that can reach only
  loopback addresses. On teardown it saves
  ``test-artifacts/screenshots/<test>.png`` (plus the browser console log
  under ``test-artifacts/console/`` when the test failed) and deletes the
  JupyterLab kernel sessions (or the Voila kernel) the test opened.

Drive the page with the helpers in :mod:`lab`::

    from . import lab

    def test_echo(page, voila_server):
        voila_server.write_notebook("echo.ipynb", [APP_CELL])
        lab.open_voila(page, voila_server, "echo.ipynb")   # or lab.run_notebook(page, lab_server, ...)
        lab.fill_textarea(page, "echo-text", "hello")
        lab.click_button(page, "Go")                       # waits for the kernel to settle first
        lab.wait_for_text(page, "echo-out", "hello")

Every test in this directory gets the ``browser`` marker and, with
pytest-timeout installed, a per-test timeout of ``BROWSER_TEST_TIMEOUT_S``
seconds unless it has its own ``@pytest.mark.timeout``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from . import lab
from .servers import (
    JupyterEnv,
    LabServer,
    VoilaServer,
    make_jupyter_env,
    start_lab,
    start_voila,
)

#: Debian's Chromium; ``playwright install`` cannot download browsers here.
CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
]

#: Seconds a single browser test may take, server start-up included (the
#: first test of a session pays for starting JupyterLab and Chromium).
BROWSER_TEST_TIMEOUT_S = 120

#: Default Playwright timeout for actions and expectations, in milliseconds.
#: Generous because two cores running a server, a kernel and Chromium are slow.
DEFAULT_TIMEOUT_MS = 30_000

VIEWPORT = {"width": 1280, "height": 900}

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# --------------------------------------------------------------------------- #
# Collection: marker and timeout
# --------------------------------------------------------------------------- #


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under this directory ``browser`` and give it a timeout.

    The marker lets ``-m "not browser"`` skip the slow stack; the timeout
    turns a hung page or server into a failure instead of a stuck CI run.
    """
    has_timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if HERE not in Path(item.path).resolve().parents:
            continue
        if item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)
        if has_timeout and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Remember each phase's report on the item so fixtures know if the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --------------------------------------------------------------------------- #
# Servers
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> JupyterEnv:
    """Private Jupyter state shared by both servers (see :func:`servers.make_jupyter_env`)."""
    return make_jupyter_env(tmp_path_factory.mktemp("jupyter-env"))


def _keep_log(log_path: Path) -> None:
    """Copy a server log into ``test-artifacts/logs`` for post-mortems on CI."""
    target = ARTIFACTS / "logs"
    target.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        shutil.copy(log_path, target / log_path.name)


@pytest.fixture(scope="session")
def lab_server(
    jupyter_env: JupyterEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    """JupyterLab serving a temporary root directory for the whole session.

    Also checks that the ``python3`` kernel really is this interpreter, since
    a kernel from another environment would test other package versions.
    """
    root = tmp_path_factory.mktemp("lab-root")
    log = tmp_path_factory.mktemp("logs") / "jupyterlab.log"
    server = start_lab(jupyter_env, root, log, token=secrets.token_hex(16))
    try:
        argv = server.kernelspec_argv()
        if argv[0] != sys.executable:
            pytest.fail(f"JupyterLab's python3 kernel runs {argv[0]}, not {sys.executable}")
        yield server
    finally:
        server.stop()
        _keep_log(log)


@pytest.fixture(scope="session")
def voila_server(
    jupyter_env: JupyterEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VoilaServer]:
    """Voila serving a temporary root directory for the whole session."""
    root = tmp_path_factory.mktemp("voila-root")
    log = tmp_path_factory.mktemp("logs") / "voila.log"
    server = start_voila(jupyter_env, root, log)
    try:
        yield server
    finally:
        server.stop()
        _keep_log(log)


# --------------------------------------------------------------------------- #
# Browser
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    """The Playwright driver process, shared by the browser tests.

    Package scope, not session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, which would make every later ``asyncio.run`` in the suite fail.
    """
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium; fails (never skips) when it is not installed.

    A skip would let a machine without Chromium report green while testing
    no widget at all.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests drive Debian's Chromium "
            "(Playwright cannot download its own browsers here). Run the project's setup, "
            "i.e. `apt-get install -y chromium`.",
            pytrace=False,
        )
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


def _loopback_only(route: Route) -> None:
    """Let loopback requests through and abort the rest (Voila asks a CDN for fonts)."""
    host = urlsplit(route.request.url).hostname or ""
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        route.continue_()
    else:
        route.abort()


def _artifact_name(nodename: str) -> str:
    """A file name from a test id: keep letters, digits, ``.-_[]``; replace the rest."""
    return re.sub(r"[^A-Za-z0-9._\[\]-]+", "_", nodename)


def _save_screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot; never let a dead page hide the test's own result."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(path), full_page=True, timeout=10_000)
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        warnings.warn(f"could not save screenshot {path}: {exc}", stacklevel=1)


def _save_console(lines: list[str], name: str) -> None:
    """Write the browser console of a failed test next to its screenshot."""
    path = ARTIFACTS / "console" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _shutdown_voila_kernel(page: Page, voila: VoilaServer) -> None:
    """Stop the kernel of a Voila page still open, which closing the context would not."""
    if not page.url.startswith(voila.url):
        return
    try:
        lab.shutdown_voila_kernel(page)
    except PlaywrightError as exc:
        warnings.warn(f"could not shut the Voila kernel down: {exc}", stacklevel=1)


def _test_failed(item: pytest.Item) -> bool:
    """True when the test's setup or call phase failed (reports stored by the hook above)."""
    return any(
        getattr(getattr(item, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context; screenshots and cleans up after the test.

    A fresh context per test means no cookies, storage or open tabs carry
    over. Kernels survive their tab, so the JupyterLab sessions opened during
    the test are deleted on teardown (when the test uses ``lab_server``), and
    the kernel of a Voila page still open is shut down (with ``voila_server``).
    """
    lab: LabServer | None = None
    sessions_before: set[str] = set()
    if "lab_server" in request.fixturenames:
        lab = request.getfixturevalue("lab_server")
        sessions_before = lab.session_ids()

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))

    yield page

    name = _artifact_name(request.node.name)
    _save_screenshot(page, name)
    if _test_failed(request.node):
        _save_console(console, name)
    if "voila_server" in request.fixturenames:
        _shutdown_voila_kernel(page, request.getfixturevalue("voila_server"))
    context.close()
    if lab is not None:
        lab.delete_sessions(lab.session_ids() - sessions_before)
