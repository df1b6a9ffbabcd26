"""Start, probe and stop JupyterLab and Voila servers for the browser tests.

Everything here is plain Python (no pytest, no Playwright) so the fixtures in
``conftest.py`` stay short and the same code can be reused from a script when
debugging a failing browser test by hand.

Why the care:

* Each server runs with a private Jupyter/IPython/matplotlib/cache state so a
  developer's own settings, extensions or kernels can never change what a test
  sees, and the tests never write into the developer's home directory.
* The kernel is the interpreter running the tests (``sys.executable``), so the
  notebook imports the same ``workbench`` package the tests were installed with.
* Servers start in their own session (process group) and log to a file; they
  are stopped with SIGTERM (which lets Jupyter shut its kernels down) and then
  the whole group is killed so nothing outlives the test session.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat

#: Name of the kernelspec the notebooks written by :func:`write_notebook` ask for.
KERNEL_NAME = "python3"

#: JupyterLab plugin that pops up "Would you like to receive official Jupyter news?".
_ANNOUNCEMENTS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


# --------------------------------------------------------------------------- #
# Isolated environment
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class JupyterEnv:
    """The private state directories and environment shared by both servers.

    ``env`` is the full environment for server subprocesses (kernels inherit
    it, so ``WORKBENCH_DB`` reaches the notebook code). ``workbench_db`` is the
    SQLite run log the kernels write to, for tests that want to inspect it.
    """

    base: Path
    env: dict[str, str]
    workbench_db: Path

    @property
    def data_dir(self) -> Path:
        """``JUPYTER_DATA_DIR``: holds the test kernelspec."""
        return Path(self.env["JUPYTER_DATA_DIR"])

    @property
    def config_dir(self) -> Path:
        """``JUPYTER_CONFIG_DIR``: holds ``labconfig/page_config.json``."""
        return Path(self.env["JUPYTER_CONFIG_DIR"])


def make_jupyter_env(base: Path) -> JupyterEnv:
    """Create private Jupyter state under ``base`` and return its environment.

    The kernelspec is installed and the announcements pop-up disabled here, so
    any server started with ``env`` is ready for a browser test.
    """
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "jupyter-config",
        "JUPYTER_DATA_DIR": base / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": base / "jupyter-runtime",
        "IPYTHONDIR": base / "ipython",
        "MPLCONFIGDIR": base / "matplotlib",
        "XDG_CACHE_HOME": base / "cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    workbench_db = base / "workbench-runs.sqlite"

    env = dict(os.environ)
    env.update({name: str(path) for name, path in dirs.items()})
    env["WORKBENCH_DB"] = str(workbench_db)
    env["PYTHONUNBUFFERED"] = "1"  # server logs arrive in the log file promptly
    # Never let a developer's extra kernel or config search path leak in.
    for leaky in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(leaky, None)
    # In a venv Jupyter searches the environment's share/ before the user's
    # data dir; put the private dirs first so the kernelspec below wins.
    env["JUPYTER_PREFER_ENV_PATH"] = "0"

    jenv = JupyterEnv(base=base, env=env, workbench_db=workbench_db)
    install_kernelspec(jenv.data_dir)
    disable_announcements(jenv.config_dir)
    return jenv


def install_kernelspec(data_dir: Path, name: str = KERNEL_NAME) -> Path:
    """Write a kernelspec running ``sys.executable`` into ``data_dir/kernels``.

    With ``JUPYTER_PREFER_ENV_PATH=0`` (set by :func:`make_jupyter_env`)
    ``JUPYTER_DATA_DIR`` is searched before the environment's own kernel
    directory, so this spec wins over any ``python3`` found elsewhere (e.g. a
    system-wide one pointing at another interpreter). Writing ``kernel.json``
    directly is what ``python -m ipykernel install --prefix`` does, minus a
    subprocess start.
    """
    spec_dir = data_dir / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def disable_announcements(config_dir: Path) -> Path:
    """Disable JupyterLab's news pop-up, which otherwise covers the notebook."""
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    path = labconfig / "page_config.json"
    path.write_text(json.dumps({"disabledExtensions": {_ANNOUNCEMENTS_PLUGIN: True}}))
    return path


# --------------------------------------------------------------------------- #
# Notebooks
# --------------------------------------------------------------------------- #


def write_notebook(path: Path, sources: Sequence[str]) -> Path:
    """Write a notebook of code cells (one per source string) to ``path``.

    The kernelspec metadata matters: without it JupyterLab asks which kernel
    to use in a dialog that blocks the test.
    """
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------- #
# Server processes
# --------------------------------------------------------------------------- #


class ServerStartError(RuntimeError):
    """A server did not answer its readiness probe; the message quotes its log."""


def free_port() -> int:
    """Return a TCP port that was free a moment ago (bind port 0, then release).

    Another process could grab it before the server does; servers are started
    with ``port_retries=0`` so that shows up as an early exit, and
    :func:`start_server` then retries with a new port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _probe(url: str, headers: dict[str, str]) -> bool:
    """True when ``url`` answers with a 2xx status."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _log_tail(log_path: Path, lines: int = 40) -> str:
    """Last lines of a server log, to put into an error message."""
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the server, wait, then SIGKILL its whole process group.

    SIGTERM first because Jupyter servers then shut their kernels down
    cleanly; the group kill afterwards catches anything that hung.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def start_server(
    name: str,
    make_cmd: Callable[[int], list[str]],
    *,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    probe_path: str,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``make_cmd(port)`` (``name`` is for messages) and wait for ``probe_path``.

    Returns the process and its port. Retries on a new port when the process
    dies early (typically a port grabbed by someone else between
    :func:`free_port` and the bind).
    """
    headers = headers or {}
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                make_cmd(port),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{port}{probe_path}"
        while time.monotonic() < deadline and proc.poll() is None:
            if _probe(url, headers):
                return proc, port
            time.sleep(0.1)
        if proc.poll() is None:  # still running but never answered: give up
            stop_process_group(proc)
            raise ServerStartError(
                f"{name} did not answer {url} within {timeout:.0f}s; "
                f"log {log_path}:\n{_log_tail(log_path)}"
            )
        last_error = f"exited with code {proc.returncode}"
    raise ServerStartError(
        f"{name} {last_error} after {attempts} attempts; log {log_path}:\n{_log_tail(log_path)}"
    )


@dataclass
class Server:
    """A running Jupyter server serving ``root_dir`` at ``url``."""

    url: str
    root_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def write_notebook(self, name: str, sources: Sequence[str]) -> Path:
        """Write a notebook of code cells into ``root_dir`` (see :func:`write_notebook`).

        Use a name unique to the test: servers are shared by the whole session.
        """
        return write_notebook(self.root_dir / name, sources)

    def copy_notebook(self, src: Path, name: str | None = None) -> Path:
        """Copy an existing notebook (e.g. from ``notebooks/``) into ``root_dir``.

        The server works on the copy: JupyterLab autosaves outputs and writes
        checkpoints, which must never touch the repository's notebooks.
        """
        target = self.root_dir / (name or src.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return target

    def stop(self) -> None:
        """Stop the server and every process it left behind."""
        stop_process_group(self.proc)


@dataclass
class LabServer(Server):
    """JupyterLab with a token; adds the REST calls the fixtures need."""

    token: str = ""

    def notebook_url(self, name: str) -> str:
        """URL opening ``name`` with a fresh workspace (``reset``), logged in by token."""
        return f"{self.url}/lab/tree/{quote(name)}?token={self.token}&reset"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the server's REST API (``path`` starts with ``/api/``); JSON in and out."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def session_ids(self) -> set[str]:
        """Ids of the kernel sessions currently open (one per open notebook)."""
        return {s["id"] for s in self.api("GET", "/api/sessions")}

    def delete_sessions(self, ids: set[str]) -> None:
        """Delete sessions (and shut their kernels down): kernels outlive browser tabs."""
        for sid in ids:
            try:
                self.api("DELETE", f"/api/sessions/{sid}")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:  # already gone is fine
                    raise

    def kernelspec_argv(self, name: str = KERNEL_NAME) -> list[str]:
        """The command line the server would start kernel ``name`` with."""
        specs = self.api("GET", "/api/kernelspecs")
        return list(specs["kernelspecs"][name]["spec"]["argv"])


@dataclass
class VoilaServer(Server):
    """Voila serving every notebook of ``root_dir``; executes each on page load."""

    def render_url(self, name: str) -> str:
        """URL rendering ``name`` as a dashboard (starts a fresh kernel per load)."""
        return f"{self.url}/voila/render/{quote(name)}"


def start_lab(jenv: JupyterEnv, root_dir: Path, log_path: Path, token: str) -> LabServer:
    """Start JupyterLab on 127.0.0.1 with ``token`` and wait for ``/api/status``.

    ``expose_app_in_browser`` publishes ``window.jupyterapp``, which the page
    helpers use to run cells and watch the kernel. News, update checks and the
    extension manager are switched off so no pop-up or outgoing request can
    interfere.
    """
    workspaces = jenv.base / "lab-workspaces"
    workspaces.mkdir(exist_ok=True)

    def cmd(port: int) -> list[str]:
        return [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={workspaces}",
        ]  # fmt: skip

    proc, port = start_server(
        "JupyterLab",
        cmd,
        env=jenv.env,
        cwd=root_dir,
        log_path=log_path,
        probe_path="/api/status",
        headers={"Authorization": f"token {token}"},
    )
    return LabServer(
        url=f"http://127.0.0.1:{port}", root_dir=root_dir, log_path=log_path, proc=proc, token=token
    )


def start_voila(jenv: JupyterEnv, root_dir: Path, log_path: Path) -> VoilaServer:
    """Start Voila on 127.0.0.1 serving ``root_dir``; ready when ``voila.js`` is served.

    The probe asks for a static file because probing a notebook URL would
    start a kernel.
    """

    def cmd(port: int) -> list[str]:
        return [
            sys.executable, "-m", "voila",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.port_retries=0",
            "--show_tracebacks=True",
            f"--Voila.root_dir={root_dir}",
        ]  # fmt: skip

    proc, port = start_server(
        "Voila", cmd, env=jenv.env, cwd=root_dir, log_path=log_path, probe_path="/voila/static/voila.js"
    )
    return VoilaServer(url=f"http://127.0.0.1:{port}", root_dir=root_dir, log_path=log_path, proc=proc)
