"""Keys typed into the fields a notebook saves: found, named, and kept out of every summary.

A widget's text fields are part of the notebook's saved widget state, so a key pasted into a
prompt or a variable travels with every copy of the notebook. The widget cannot refuse what is
typed, but it can say so at once, and make sure the key goes no further: the value found is
registered as a secret, so :func:`~workbench._keys.redact` blanks it in the static summary, the
run log and every export.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._hygiene import _preview
from .._keys import find_keys_in_text, register_secret

__all__ = ["typed_key_warning"]


def typed_key_warning(fields: Mapping[str, str]) -> str | None:
    """A warning naming the first field (``{label: text}``) that holds a key, or ``None``.

    A key is a value of a known key (set for the session, looked up, or in a secret-named
    environment variable) or a key-shaped string (``sk-…``, ``hf_…``, a 32-character Mistral key).
    """
    for label, text in fields.items():
        found = find_keys_in_text(text or "")
        if not found:
            continue
        for key in found:
            register_secret(key)  # from now on masked in summaries, the log and exports
        return (f"The {label} holds what looks like an API key ({_preview(found[0])}); what is typed in a "
                "widget is saved with the notebook. Fix: delete it from the field and give the key in the key "
                "box or a .env file (OPENAI_API_KEY=...); revoke it if the notebook was shared.")
    return None
