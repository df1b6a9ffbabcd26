"""A notebook saved after using the widgets: readable without a kernel, and free of keys.

The notebook is executed in a real kernel (nbclient), a key is typed into the
Playground's password field the way the browser sends it, and the saved file
is then checked the way GitHub and nbviewer see it: nbformat-valid, every
widget output carrying a ``text/plain`` and ``text/html`` fallback, the
HTML export (nbconvert, as nbviewer uses) showing the prompts and answers
rather than ``VBox(children=...)``, and the key nowhere in the file (nor in the widget state nbclient saves,
which is what nbviewer renders when a notebook carries it).
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import PLANTED_KEY

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# The key is assembled in the kernel so that the notebook's source never contains it:
# if it shows up in the saved file, a widget leaked it.
KEY_HEAD, KEY_TAIL = PLANTED_KEY[:12], PLANTED_KEY[12:]

CELLS = [
    "import workbench as wb",
    (
        "pg = wb.Playground(wb.Prompt(system='You are terse.', user='Summarise: {text}'),\n"
        "                   'openai:gpt-4o-mini', temperature=0.2, text='A long e-mail.')\n"
        "pg"
    ),
    # what the browser sends when the user pastes a key and presses Enter
    f"pg.key.password.value = {KEY_HEAD!r} + {KEY_TAIL!r}\nassert pg.key.password.value == ''",
    (
        "local = wb.Playground('Name one colour.', 'local:smollm2', max_tokens=6, seed=1)\n"
        "local.state.run(timeout=300)\n"
        "local"
    ),
    "wb.Compare({'terse': 'Define {word}.', 'kind': 'Explain {word} kindly.'}, 'local:smollm2', word='tide')",
    "wb.Sweep('Describe {thing}.', 'local:smollm2', values=[0, 1], repeats=2, thing='fog')",
]


@pytest.fixture(scope="module")
def saved_notebook(tmp_path_factory) -> tuple[nbformat.NotebookNode, str]:
    folder = tmp_path_factory.mktemp("saved-notebook")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "used.ipynb"
    nbformat.write(nb, str(path))
    return nbformat.read(str(path), as_version=4), path.read_text()


@pytest.mark.local_model
def test_saved_notebook_is_valid_and_has_no_key(saved_notebook):
    nb, raw = saved_notebook
    nbformat.validate(nb)
    assert PLANTED_KEY not in raw, raw[max(0, raw.find(PLANTED_KEY) - 600):raw.find(PLANTED_KEY) + 100]
    assert "widgets" not in nb.metadata or "state" in nb.metadata["widgets"].get(
        "application/vnd.jupyter.widget-state+json", {"state": {}})


def _widget_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """Each widget output's data, with the ``text/html`` of the summary displayed beside it (same cell).

    The summary is its own output (JupyterLab never shows the ``text/html`` of an output that
    carries a widget view), and the widget's bundle leaves ``text/html`` out so nbviewer shows it once.
    """
    found = []
    for cell in nb.cells:
        outs = cell.get("outputs", [])
        for i, out in enumerate(outs):
            if WIDGET_MIME in out.get("data", {}):
                assert "text/html" not in out["data"]
                beside = [o for o in outs[i + 1:] if "wb-fallback" in o.get("data", {}).get("text/html", "")]
                assert beside, f"no summary beside the widget: {outs}"
                found.append({**out["data"], "text/html": beside[0]["data"]["text/html"]})
    return found


@pytest.mark.local_model
def test_every_widget_output_has_a_readable_fallback(saved_notebook):
    nb, _ = saved_notebook
    outputs = _widget_outputs(nb)
    assert len(outputs) == 4  # Playground x2, Compare, Sweep
    for data in outputs:
        assert data["text/plain"].split(" · ")[0] in ("Playground", "Compare", "Sweep")
        assert "children=" not in data["text/plain"] and "<div class='wb-static'" in data["text/html"]
    playground, local, compare, sweep = outputs
    assert "Summarise: {text}" in playground["text/html"] and "A long e-mail." in playground["text/html"]
    assert "openai:gpt-4o-mini" in playground["text/plain"] and "temperature=0.2" in playground["text/plain"]
    assert "6 out" in local["text/plain"] and "latency" in local["text/html"]  # the answer ran before display
    assert "Define {word}." in compare["text/html"] and "Explain {word} kindly." in compare["text/html"]
    assert "temperature over [0.0, 1.0] x 2" in sweep["text/plain"]


@pytest.mark.local_model
def test_saved_widget_state_holds_what_was_shown_but_no_key(saved_notebook):
    nb, _ = saved_notebook
    state = json.dumps(nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"])
    assert "Summarise: {text}" in state  # nbviewer can render the widgets from it
    assert PLANTED_KEY not in state


@pytest.mark.local_model
def test_nbconvert_html_shows_the_fallback_not_widget_reprs(saved_notebook):
    """Without saved widget state (JupyterLab's default), nbviewer shows our text/html fallback."""
    from nbconvert import HTMLExporter

    nb, _ = saved_notebook
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert body.count("class='wb-static'") >= 4 or body.count('class="wb-static"') >= 4
    assert "Summarise: {text}" in body and "Explain {word} kindly." in body
    assert "VBox(children" not in body and "Playground(children" not in body
    assert PLANTED_KEY not in body
