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
