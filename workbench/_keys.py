"""API keys: where they come from, and how they are kept out of everything we write.

Keys are looked up, in order, in keys set for this session (``set_key`` or the
widgets' password field), the process environment, and a ``.env`` file found
from the current directory upwards (read with python-dotenv, never written
back into ``os.environ``). Every key value ever looked up is remembered so
that :func:`redact` can blank it out of logs, errors, exports and reprs.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

__all__ = ["get_key", "set_key", "has_key", "redact", "redact_obj", "redact_frame", "StreamRedactor",
           "looks_like_key", "find_keys_in_text", "clear_session_keys", "restore_session_keys", "register_secret",
           "register_url_secrets"]

_lock = threading.Lock()
_session_keys: dict[str, str] = {}
_known_secrets: set[str] = set()
_dotenv_cache: tuple[Path | None, float, dict[str, str]] | None = None

# Shapes of real provider keys, used to warn about keys pasted into notebooks and
# as a second line of defence in ``redact``.
_KEY_PATTERNS = [
    re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),  # Anthropic
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),  # Hugging Face
    re.compile(r"\bgsk_[A-Za-z0-9]{30,}"),  # Groq
]
_ASSIGNED_KEY = re.compile(
    r"""(?ix)\b[A-Z0-9_]*(?:API_?KEY|TOKEN|SECRET)[A-Z0-9_]*\s*[=:]\s*['"]([A-Za-z0-9_\-\.]{24,})['"]"""
)
_MASK = "***"
# Credentials carried inside a URL: the user-info part (``scheme://user:password@host``) and the
# value of a query parameter whose name says it is a secret (``?api-key=...``, ``&token=...``).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>]+@")
_SECRET_PARAM = r"(?:api[-_]?key|apikey|key|token|access[-_]?token|auth|secret|password|passwd|pwd|sig|signature)"
_URL_QUERY_SECRET = re.compile(rf"(?i)([?&;]{_SECRET_PARAM}=)[^&#\s'\"<>]+")


def _remember(value: str) -> None:
    if value and len(value) >= 8:
        with _lock:
            _known_secrets.add(value)


def register_secret(value: str | None) -> None:
    """Treat ``value`` as a secret from now on: :func:`redact` blanks it wherever it appears."""
    if value:
        _remember(value.strip())


def register_url_secrets(url: str | None) -> None:
    """Register the credentials inside a URL (user, password, secret query values) as secrets.

    Provider base URLs go through this, so ``http://user:pw@host/v1`` or ``...?api-key=...`` never
    reach the log, an error or an export, even where the value appears without its URL.
    """
    if not url:
        return
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    for value in (user, password):
        register_secret(value)
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if re.fullmatch(_SECRET_PARAM, name, flags=re.IGNORECASE):
            register_secret(value)


def _find_dotenv() -> Path | None:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def _dotenv_values() -> dict[str, str]:
    """Values of the nearest ``.env``, re-read only when the file changes."""
    global _dotenv_cache
    path = _find_dotenv()
    mtime = path.stat().st_mtime if path else 0.0
    if _dotenv_cache and _dotenv_cache[0] == path and _dotenv_cache[1] == mtime:
        return _dotenv_cache[2]
    values: dict[str, str] = {}
    if path is not None:
        from dotenv import dotenv_values  # only when a .env file exists; every error message imports this module

        values = {k: v for k, v in dotenv_values(path).items() if v}
    _dotenv_cache = (path, mtime, values)
    return values


def get_key(env_var: str) -> str | None:
    """The key stored under ``env_var``, or ``None`` if it is set nowhere."""
    with _lock:
        value = _session_keys.get(env_var)
    value = value or os.environ.get(env_var) or _dotenv_values().get(env_var)
    if value:
        _remember(value)
    return value or None


def has_key(env_var: str) -> bool:
    return get_key(env_var) is not None


def set_key(env_var: str, value: str | None) -> None:
    """Keep a key for this Python session only (nothing is written to disk).

    ``set_key("OPENAI_API_KEY", None)`` forgets it again.
    """
    with _lock:
        if value:
            _session_keys[env_var] = value.strip()
        else:
            _session_keys.pop(env_var, None)
    if value:
        _remember(value.strip())


def clear_session_keys() -> dict[str, str]:
    """Forget every key set for this session; returns them (so a test can put them back)."""
    with _lock:
        saved = dict(_session_keys)
        _session_keys.clear()
    return saved


def restore_session_keys(keys: dict[str, str]) -> None:
    """Make ``keys`` (from :func:`clear_session_keys`) the session's keys again."""
    with _lock:
        _session_keys.clear()
        _session_keys.update(keys)


# Environment variables whose value is a secret by their name (OPENAI_API_KEY, HF_TOKEN, DB_PASSWORD, ...):
# their values are masked even before anything looked them up, so a key set in the environment and
# typed (or pasted) somewhere else never reaches a stored or exported text.
_SECRET_ENV_NAME = re.compile(r"(?i)(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)")
_env_cache: tuple[int, tuple[str, ...], tuple[str | None, ...], frozenset[str]] | None = None


def _env_secrets() -> frozenset[str]:
    """Values of the environment variables named like secrets.

    Called by every ``redact``, so it is cheap: the environment is rescanned only when its size
    changes; otherwise the values of the secret-named variables are compared with the last ones.
    """
    global _env_cache
    size = len(os.environ)
    if _env_cache is not None and _env_cache[0] == size:
        names = _env_cache[1]
        if tuple(os.environ.get(n) for n in names) == _env_cache[2]:
            return _env_cache[3]
    names = tuple(k for k in os.environ if _SECRET_ENV_NAME.search(k))
    values = tuple(os.environ.get(n) for n in names)
    secrets = frozenset(v.strip() for v in values if v and len(v.strip()) >= 8)
    _env_cache = (size, names, values, secrets)
    return secrets


def _secrets() -> list[str]:
    """The known keys (looked up, registered, or in a secret-named environment variable), longest
    first (so a key containing another is masked whole)."""
    env = _env_secrets()
    with _lock:
        return sorted(_known_secrets | env, key=len, reverse=True)


def _mask_secrets(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _mask_shapes(text: str) -> str:
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(_MASK, text)
    if "://" in text:
        text = _URL_USERINFO.sub(rf"\1{_MASK}@", text)
    if "=" in text:
        text = _URL_QUERY_SECRET.sub(rf"\1{_MASK}", text)
    return text


def redact(text: str) -> str:
    """Blank out every known key, and anything shaped like a key, from ``text``."""
    if not text:
        return text
    return _mask_shapes(_mask_secrets(text, _secrets()))


def redact_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with :func:`redact` applied to every text cell of every column.

    The storage and export boundaries (the results table, CSV, JSON, the HTML report) call this on
    the whole table, so a new text column (a scorer's explanation quoting ``expected``, say) is
    covered without anyone remembering to redact it.
    """
    secrets = _secrets()

    def one(value: Any) -> Any:
        return _mask_shapes(_mask_secrets(value, secrets)) if isinstance(value, str) and value else value

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("str", "string"):
            out[column] = out[column].map(one)
    return out


def redact_obj(obj: Any) -> Any:
    """``redact`` applied to every string inside nested dicts, lists and tuples."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


_WORD_TAIL = re.compile(r"[A-Za-z0-9_\-\.]+$")
_KEY_STARTS = ("sk-", "hf_", "gsk_")  # how the key shapes in _KEY_PATTERNS begin


def _hold_from(text: str, secrets: list[str]) -> int:
    """Where the part of ``text`` that could still grow into a key begins (``len(text)`` if none).

    Two things can: a trailing word that starts like a key shape (``sk-…``, or
    just ``s`` so far), and a trailing piece that is the start of a known key.
    """
    cut = len(text)
    tail = _WORD_TAIL.search(text)
    if tail:
        for i in range(tail.start(), len(text)):
            if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
                continue  # the key shapes begin at a word boundary
            rest = text[i:]
            if any(rest.startswith(k) or k.startswith(rest) for k in _KEY_STARTS):
                cut = i
                break
    for secret in secrets:
        for i in range(max(0, len(text) - len(secret) + 1), cut):
            if text[i] == secret[0] and secret.startswith(text[i:]):
                cut = i
                break
    return cut


class StreamRedactor:
    """``redact`` for text that arrives in pieces, where a key may be split across them.

    Only what could still turn into a key is held back until the next piece
    settles it (or ``flush`` at the end of the stream): a word that begins like
    a key shape, or the start of a known key. Everything else is shown at once,
    so streaming stays live and the reader never sees a key.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        secrets = _secrets()
        # whole keys first, so one that ended in this piece is never cut in two
        text = _mask_secrets(self._pending + text, secrets)
        cut = _hold_from(text, secrets)
        self._pending = text[cut:]
        return _mask_shapes(text[:cut])

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return redact(text)


def find_keys_in_text(text: str) -> list[str]:
    """Return the snippets of ``text`` that look like literal API keys."""
    hits = [m.group(0) for p in _KEY_PATTERNS for m in p.finditer(text)]
    hits += [m.group(1) for m in _ASSIGNED_KEY.finditer(text)]
    hits += [m.group(0) for m in _MISTRAL_SHAPE.finditer(text) if _mixed(m.group(0))]
    hits += [s for s in _secrets() if s in text]
    return sorted(set(hits))


# Mistral keys have no prefix: 32 letters and digits. Too common a shape to mask in every text (redact
# does not), but worth a warning where a user types one into a field that is saved.
_MISTRAL_SHAPE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9]{32}(?![A-Za-z0-9_\-])")


def _mixed(word: str) -> bool:
    """Upper and lower case letters and digits: a random key, not a word or a hex digest."""
    return any(c.isupper() for c in word) and any(c.islower() for c in word) and any(c.isdigit() for c in word)


def looks_like_key(text: str) -> bool:
    return bool(find_keys_in_text(text))
