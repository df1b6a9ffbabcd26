"""Smoke test of the browser harness: a small widget app in JupyterLab and in Voila.

It proves the fixtures start the servers and Chromium, that the widgets
render for real, and that values typed into a Textarea and a slider reach the
kernel before the button click that reads them (the race in ``lab.py``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import lab
from .servers import LabServer, VoilaServer

#: One cell building the app. The Textarea syncs only on change
#: (``continuous_update=False``) so the test also covers that path.
SMOKE_CELL = """\
import ipywidgets as w

slider = w.IntSlider(value=3, min=0, max=10, description="n")
slider.add_class("smoke-slider")
text = w.Textarea(placeholder="type here", continuous_update=False)
text.add_class("smoke-text")
go = w.Button(description="Go")
out = w.Output()
out.add_class("smoke-out")

def on_go(_):
    with out:
        print(f"{text.value} x {slider.value}")

go.on_click(on_go)
w.VBox([slider, text, go, out])
"""


def _drive_smoke_app(page: Page) -> None:
    """Type, slide, click and check the echo: the same steps in both front ends."""
    lab.fill_textarea(page, "smoke-text", "hello")
    lab.set_slider(page, "smoke-slider", 7)
    lab.click_button(page, "Go")
    lab.wait_for_text(page, "smoke-out", "hello x 7")
    assert lab.output_text(page, "smoke-out") == "hello x 7"


@pytest.mark.browser
def test_smoke_jupyterlab(page: Page, lab_server: LabServer) -> None:
    """Run the notebook in JupyterLab, where users work, and drive its widgets."""
    lab_server.write_notebook("smoke_lab.ipynb", [SMOKE_CELL])
    lab.run_notebook(page, lab_server, "smoke_lab.ipynb")
    _drive_smoke_app(page)


@pytest.mark.browser
def test_smoke_voila(page: Page, voila_server: VoilaServer) -> None:
    """Render the same notebook as a Voila dashboard (executed on load) and drive it."""
    voila_server.write_notebook("smoke_voila.ipynb", [SMOKE_CELL])
    lab.open_voila(page, voila_server, "smoke_voila.ipynb")
    _drive_smoke_app(page)
