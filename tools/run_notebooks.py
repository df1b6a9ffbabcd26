"""Execute the curated notebooks in place so their stored outputs are fresh and clean.

    python tools/run_notebooks.py                 # every notebook under notebooks/
    python tools/run_notebooks.py notebooks/00_start_here.ipynb

Each notebook runs top to bottom in a kernel of this Python, from its own
folder, against a throw-away run log (so stored outputs never show a user's
history) and with no API key in the environment. Widget state is not stored:
the widgets' own text/HTML fallbacks are what GitHub and nbviewer show. The
run time of each notebook is printed, for the notes on the course.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SECRETS = ("OPENAI_API_KEY", "MISTRAL_API_KEY", "OPENAI_BASE_URL", "MISTRAL_SERVER_URL", "WORKBENCH_MODEL")


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs (streamed tokens) into one, as a reader sees them."""
    merged: list = []
    for out in outputs:
        if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def run(path: Path, scratch: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ["WORKBENCH_DB"] = str(scratch / f"{path.stem}.sqlite")
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=False)
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    for name in SECRETS:
        os.environ.pop(name, None)
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").rglob("*.ipynb"))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    with tempfile.TemporaryDirectory(prefix="wb-notebooks-") as scratch:
        os.environ["MPLCONFIGDIR"] = str(Path(scratch) / "mpl")
        for path in paths:
            elapsed = run(path, Path(scratch))
            print(f"{elapsed:7.1f} s  {path.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
