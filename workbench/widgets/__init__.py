"""Interactive views for notebooks: the only package that imports ipywidgets.

Each widget is a thin view over a plain state object from
:mod:`workbench.state`; everything it does is a method of that object.
``import workbench`` does not import this package: ``wb.Playground`` and
friends load it (and ipywidgets) on first use.
"""

from __future__ import annotations

from ._chat import Chat
from ._compare import Compare
from ._improve import Improve, ReviewCases
from ._playground import Playground
from ._sweep import Sweep
from ._tokens import TokenView

__all__ = ["Playground", "Chat", "Compare", "Sweep", "Improve", "ReviewCases", "TokenView"]
