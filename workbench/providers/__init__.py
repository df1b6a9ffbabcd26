"""The provider registry: ``"provider:model"`` strings to provider objects.

Providers are created on first use and import their SDK only then (the
provider modules imported here import none), so that ``import workbench``
stays fast and works without any optional SDK.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._errors import ModelNotFoundError
from .._types import split_model
from ._base import Provider
from ._local import LocalProvider
from ._mistral import MistralProvider
from ._mock import MockProvider
from ._openai import CompatibleProvider, OpenAIProvider

__all__ = [
    "Provider",
    "get_provider",
    "resolve",
    "add_endpoint",
    "add_local_model",
    "add_model",
    "models",
    "default_model",
    "course_model",
    "stronger_model",
    "ModelInfo",
    "register_provider",
    "reset_providers",
    "save_registry",
    "restore_registry",
]

_lock = threading.Lock()
_instances: dict[str, Provider] = {}
_extra_models: dict[str, list[str]] = {}


def _make_openai() -> Provider:
    return OpenAIProvider(base_url=os.environ.get("OPENAI_BASE_URL") or None)


def _make_mistral() -> Provider:
    return MistralProvider(server_url=os.environ.get("MISTRAL_SERVER_URL") or None)


_BUILTIN: dict[str, Callable[[], Provider]] = {
    "local": LocalProvider,
    "openai": _make_openai,
    "mistral": _make_mistral,
    "mock": MockProvider,
}
_factories: dict[str, Callable[[], Provider]] = dict(_BUILTIN)


def register_provider(name: str, factory: Callable[[], Provider]) -> None:
    """Register a provider factory under ``name`` (replacing any instance)."""
    with _lock:
        _factories[name] = factory
        _instances.pop(name, None)


def get_provider(name: str) -> Provider:
    with _lock:
        if name not in _instances:
            factory = _factories.get(name)
            if factory is None:
                raise ModelNotFoundError(
                    f"Unknown provider {name!r}. Known providers: {', '.join(sorted(_factories))}. "
                    "Fix: use one of those, or register an OpenAI-compatible server with "
                    f"wb.add_endpoint({name!r}, base_url='http://localhost:11434/v1')."
                )
            _instances[name] = factory()
        return _instances[name]


def add_endpoint(name: str, base_url: str, *, models: Sequence[str] = (), key_env: str | None = None) -> None:
    """Register an OpenAI-compatible server, then call its models as ``"<name>:<model>"``.

    ``models`` lists the models it serves (any name is accepted if empty);
    ``key_env`` names the environment variable holding its key, if it needs one.
    """
    if name in _BUILTIN:
        raise ModelNotFoundError(
            f"{name!r} is a built-in provider. Fix: give the endpoint another name, e.g. 'ollama'.")
    _check_endpoint(name, base_url)
    register_provider(name, lambda: CompatibleProvider(name, base_url, key_env=key_env, models=models))


def _check_endpoint(name: str, base_url: str) -> None:
    """Refuse, before any call, an endpoint that can never be reached or named in a model string."""
    from urllib.parse import urlsplit

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ModelNotFoundError(f"Endpoint name {name!r} cannot be used in a model string '<name>:<model>'. "
                                 "Fix: use letters, digits, '_', '-' or '.', e.g. 'ollama'.")
    example = "Fix: give the server's address, e.g. 'http://localhost:11434/v1'."
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ModelNotFoundError(f"base_url {base_url!r} is not an http(s) URL. {example}")
    try:
        parts = urlsplit(base_url)
        port = parts.port  # raises on a port that is not a number ('http://a:b')
    except ValueError as exc:
        raise ModelNotFoundError(f"base_url {base_url!r} is not a valid URL ({exc}). {example}") from None
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ModelNotFoundError(f"base_url {base_url!r} names no host to connect to. {example}")


def add_local_model(name: str, path: str | os.PathLike[str] | None = None, *, hf_repo: str | None = None,
                    filename: str | None = None, sha256: str | None = None, n_ctx: int | None = None,
                    download: bool = True, revision: str = "main") -> None:
    """Register a GGUF model as ``"local:<name>"``: a catalog name (``wb.local_models()``), a file on the
    Hugging Face Hub (``hf_repo=``, ``filename=``, downloaded once) or a file on disk (``path``).
    See :func:`workbench._models.add_local_model`."""
    from .._models import add_local_model as add

    add(name, path, hf_repo=hf_repo, filename=filename, sha256=sha256, n_ctx=n_ctx, download=download,
        revision=revision)


def add_model(model: str) -> None:
    """Allow a model name the built-in list does not know yet (e.g. a newly released one)."""
    provider, name = split_model(model)
    get_provider(provider)
    with _lock:
        names = _extra_models.setdefault(provider, [])
        if name not in names:
            names.append(name)


def _known(provider: Provider) -> list[str]:
    known = provider.known_models()
    return known + [m for m in _extra_models.get(provider.name, []) if m not in known]


def resolve(model: str) -> tuple[Provider, str]:
    """The provider and model name for ``model``, or an error listing the known models."""
    provider_name, name = split_model(model)
    provider = get_provider(provider_name)
    known = _known(provider)
    if name in known or provider.accepts_any_model():
        return provider, name
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{provider_name}:{close[0]}'?" if close else ""
    raise ModelNotFoundError(
        f"Unknown model {model!r}.{hint} Known {provider_name} models: "
        f"{', '.join(f'{provider_name}:{m}' for m in known) or 'none'}. "
        f"Fix: pick one of those; for a model not in the list, first call wb.add_model({model!r})."
    )


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str
    key_env: str | None
    key_present: bool
    default: bool = False


class ModelList(list[ModelInfo]):
    """A list of :class:`ModelInfo` that shows itself as a table in notebooks."""

    @property
    def names(self) -> list[str]:
        return [m.name for m in self]

    def __repr__(self) -> str:
        width = max((len(m.name) for m in self), default=5) + 10
        lines = [f"{'model':<{width}} {'key':<16} key present"]
        for m in self:
            name = m.name + (" (default)" if m.default else "")
            lines.append(f"{name:<{width}} {m.key_env or 'no key needed':<16} {'yes' if m.key_present else 'no'}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(m.name)}{' (default)' if m.default else ''}</td><td>{m.provider}</td>"
            f"<td>{m.key_env or 'no key needed'}</td><td>{'yes' if m.key_present else 'no'}</td></tr>"
            for m in self
        )
        return ("<table><thead><tr><th>model</th><th>provider</th><th>key</th><th>key present</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def models() -> ModelList:
    """Known and configured models, with their provider and whether its key is present."""
    with _lock:
        names = list(_factories)
    default = default_model()
    out = ModelList()
    for provider_name in names:
        provider = get_provider(provider_name)
        for name in _known(provider):
            full = f"{provider_name}:{name}"
            out.append(ModelInfo(full, provider_name, provider.key_env, provider.has_key(), full == default))
    return out


def default_model() -> str:
    """``$WORKBENCH_MODEL``, else a hosted model whose key is present, else the offline model."""
    chosen = os.environ.get("WORKBENCH_MODEL")
    if chosen:
        return chosen
    for model in ("openai:gpt-4o-mini", "mistral:mistral-small-latest"):
        if get_provider(split_model(model)[0]).has_key():
            return model
    return "local:smollm2"


COURSE_MODEL = "local:smollm2"
HOSTED_MODELS = ("openai:gpt-4o-mini", "mistral:mistral-small-latest")


def course_model() -> str:
    """The model every course notebook runs on: ``$WORKBENCH_MODEL``, else the offline ``local:smollm2``.

    Unlike :func:`default_model`, a key in the environment does not switch the
    course to a paid model: the lessons' figures stay reproducible offline
    until you choose otherwise, in one place (the environment variable).
    """
    return os.environ.get("WORKBENCH_MODEL") or COURSE_MODEL


def stronger_model() -> str | None:
    """A model stronger than SmolLM2 that can run here now, or ``None``; lessons compare it with the course model.

    In order: ``$WORKBENCH_STRONG_MODEL``; ``$WORKBENCH_MODEL`` when it is not
    SmolLM2; a hosted model whose key is present; a local model registered in
    this session besides SmolLM2 (``wb.add_local_model``). ``None`` means the
    lessons say plainly what they could not measure.
    """
    for chosen in (os.environ.get("WORKBENCH_STRONG_MODEL"), os.environ.get("WORKBENCH_MODEL")):
        if chosen and chosen != COURSE_MODEL:
            return chosen
    for model in HOSTED_MODELS:
        if get_provider(split_model(model)[0]).has_key():
            return model
    local = [m for m in _known(get_provider("local")) if f"local:{m}" != COURSE_MODEL]
    return f"local:{local[0]}" if local else None


def reset_providers(*, registrations: bool = False) -> None:
    """Forget provider instances (and their clients); mainly for tests.

    With ``registrations=True`` also forget endpoints, providers and extra
    models registered in this session (back to the built-in providers).
    """
    with _lock:
        _instances.clear()
        if registrations:
            _factories.clear()
            _factories.update(_BUILTIN)
            _extra_models.clear()


@dataclass(frozen=True)
class _Registry:
    instances: dict[str, Provider]
    factories: dict[str, Callable[[], Provider]]
    extra_models: dict[str, list[str]]


def save_registry() -> _Registry:
    """The providers, endpoints and extra models of this session, for :func:`restore_registry`."""
    with _lock:
        return _Registry(dict(_instances), dict(_factories), {k: list(v) for k, v in _extra_models.items()})


def restore_registry(saved: _Registry) -> None:
    """Put back what :func:`save_registry` saved (provider instances included)."""
    with _lock:
        _instances.clear()
        _instances.update(saved.instances)
        _factories.clear()
        _factories.update(saved.factories)
        _extra_models.clear()
        _extra_models.update({k: list(v) for k, v in saved.extra_models.items()})
