"""Session-wide test isolation, for unit tests and the nbval notebook runs alike.

Kernels started by nbval and the browser tests inherit this process's
environment, so setting it here keeps every test off the user's real run log
and away from any real API key or .env file.
"""

from __future__ import annotations

import os
import tempfile

_SCRATCH = tempfile.mkdtemp(prefix="workbench-tests-")


def pytest_configure(config):  # pytest hook
    os.environ["WORKBENCH_DB"] = os.path.join(_SCRATCH, "runs.sqlite")
    for name in ("OPENAI_API_KEY", "MISTRAL_API_KEY", "OPENAI_BASE_URL", "MISTRAL_SERVER_URL", "WORKBENCH_MODEL"):
        os.environ.pop(name, None)
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(_SCRATCH, "mpl"))
    _let_nbval_queue_every_output()


def _let_nbval_queue_every_output() -> None:
    """Give nbval's kernel client an unbounded IOPub queue.

    nbval waits for a cell's reply before it reads any of the cell's output.
    Meanwhile the kernel's messages pile up in ZeroMQ, which drops them
    past its high-water mark (1000 per socket): a cell that sends a few
    thousand widget messages (a sweep's 48 answers) then loses its output and
    its "idle" status, and nbval fails with "Timeout of 5 seconds exceeded
    waiting for output". JupyterLab, Voila and nbclient read while a cell
    runs, so only this test runner needs the larger queue.
    """
    try:
        import nbval.kernel
        import zmq
    except ImportError:
        return
    base = nbval.kernel.KernelManager
    if getattr(base, "_workbench_unbounded_iopub", False):
        return

    class _KernelManager(base):  # type: ignore[misc, valid-type]
        _workbench_unbounded_iopub = True

        def client(self, **kwargs):
            kc = super().client(**kwargs)
            kc.context.setsockopt(zmq.RCVHWM, 0)  # a default for the sockets it opens next (0 = no limit)
            return kc

    nbval.kernel.KernelManager = _KernelManager
