"""The provider interface: one async ``complete`` and one async ``stream``.

A provider knows how to talk to one kind of backend through its official SDK
and nothing else: concurrency, retries, timing, cost, caching and logging are
the runner's job. Each provider maps :class:`Params` to its SDK in one small
function (``map_params``) and lists the parameters it cannot honour.
"""

from __future__ import annotations

import asyncio
import importlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from .._errors import (
    BadRequestError,
    MalformedResponseError,
    MissingDependencyError,
    MissingKeyError,
    PromptError,
    ProviderError,
    UnsupportedParamError,
    WorkbenchError,
)
from .._keys import get_key
from .._params import Params
from .._types import Completion, Delta
from ._http import translate

__all__ = ["Provider", "import_sdk"]


def import_sdk(module: str, extra: str) -> Any:
    """Import an optional SDK, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"The {module!r} package is needed for this provider but is not installed. "
            f"Fix: pip install 'prompt-workbench[{extra}]'."
        ) from None


class Provider(ABC):
    """A backend reachable as ``"<name>:<model>"``."""

    name: str
    key_env: str | None = None
    key_help: str = ""
    sdk: tuple[str, str] | None = None  # (module, pip extra) imported lazily
    unsupported: frozenset[str] = frozenset()
    default_concurrency: int = 8
    #: What an error that is neither an HTTP status nor a transport failure becomes.
    fallback_error: type[ProviderError] = MalformedResponseError
    #: Tools, response formats and conversation roles this provider takes (checked before any call).
    supports_tools: bool = False
    supports_response_format: bool = False
    roles: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
    #: Whether a conversation may end with an assistant turn (some APIs need a user or tool turn last).
    accepts_assistant_last: bool = True
    #: Whether ``logprobs``/``top_logprobs`` can be honoured (the token lens, workbench/_tokens.py).
    supports_logprobs: bool = False
    #: Why an answer cannot be continued from a forced token here (``None``: it can; a trailing assistant
    #: message is continued, not answered).
    branch_refusal: str | None = "this provider cannot continue an answer from a forced token"

    @property
    def error_label(self) -> str:
        """How error messages name this provider."""
        return self.name

    # --- checks done before any call -------------------------------------
    def api_key(self) -> str | None:
        if self.key_env is None:
            return None
        key = get_key(self.key_env)
        if key is None:
            raise MissingKeyError(
                f"No API key for {self.name!r}: {self.key_env} is not set. Fix: set the environment variable "
                f"{self.key_env}, put '{self.key_env}=...' in a .env file next to your notebook, or call "
                f"wb.set_key({self.key_env!r}, getpass.getpass()). {self.key_help}".strip()
            )
        return key

    def has_key(self) -> bool:
        return self.key_env is None or get_key(self.key_env) is not None

    def check_params(self, model: str, params: Params) -> None:
        bad = sorted(set(params.set()) & self.unsupported)
        if params.logprobs and not self.supports_logprobs and not bad:
            raise UnsupportedParamError(
                f"{self.name}:{model} does not return token log-probabilities, so logprobs/top_logprobs cannot "
                "be honoured. Fix: leave logprobs unset for this provider, or use a model that returns them "
                "(local:smollm2, openai:..., an OpenAI-compatible endpoint)."
            )
        if bad:
            raise UnsupportedParamError(
                f"{self.name}:{model} does not support {', '.join(bad)}. Fix: leave "
                f"{'it' if len(bad) == 1 else 'them'} unset for this provider."
            )

    def check(self, model: str, params: Params) -> None:
        """Everything that can be checked without spending a call."""
        self.check_params(model, params)
        if self.sdk is not None:
            import_sdk(*self.sdk)
        self.api_key()

    def check_options(self, model: str, messages: Sequence[dict[str, Any]], options: Any) -> None:
        """Refuse, before any call, tools, a response format or a conversation this provider cannot take."""
        label = f"{self.name}:{model}"
        if options.tools and not self.supports_tools:
            raise UnsupportedParamError(f"{label} cannot call tools. Fix: use a model with tools, e.g. "
                                        "'openai:gpt-4o-mini', 'mistral:mistral-small-latest' or 'local:smollm2'.")
        if options.response_format is not None and not self.supports_response_format:
            raise UnsupportedParamError(f"{label} cannot bind answers to a schema. Fix: drop response_format "
                                        "and check the answer with the json_valid scorer, or use another model.")
        calls: set[str] = set()
        for i, message in enumerate(messages, 1):
            role = message.get("role")
            if role not in self.roles:
                raise PromptError(f"Message {i} ({role}): {label} does not accept the role {role!r} (it takes "
                                  f"{', '.join(sorted(self.roles))}). Fix: change the role, e.g. to 'user'.")
            calls.update(c.get("id") for c in message.get("tool_calls") or ())
            if role == "tool" and message.get("tool_call_id") not in calls:
                raise PromptError(f"Message {i} (tool) answers the tool call {message.get('tool_call_id')!r}, which "
                                  "no earlier assistant message made. Fix: put the assistant turn with that call "
                                  "(r.messages keeps it) before the tool result, or give the matching tool_call_id.")
        if not self.accepts_assistant_last and messages and messages[-1].get("role") == "assistant":
            raise PromptError(f"Message {len(messages)} (assistant) ends the conversation, but {label} needs a "
                              "user (or tool) turn last. Fix: add the user's next turn, e.g. "
                              "messages=[..., ('user', '{question}')].")

    @staticmethod
    def options_refused(exc: WorkbenchError, options: Any) -> WorkbenchError:
        """A 400 to a request with tools or a schema: say that the server may not support them."""
        if options is None or not isinstance(exc, BadRequestError) or exc.status == 404:
            return exc
        asked = " and ".join(w for w, on in (("tools", bool(options.tools)),
                                             ("response_format", options.response_format is not None)) if on)
        return BadRequestError(f"{exc} The request carried {asked}; a server that does not support them refuses "
                               f"the request. Fix: drop {asked} for this server, or use a model that has them.",
                               status=exc.status)

    def default_params(self, model: str) -> dict[str, Any]:
        """What ``model`` uses for the parameters left unset, where known (``{}``: the provider does not say)."""
        return {}

    def known_models(self) -> list[str]:
        """Model names this provider is known to serve (may be empty if it takes any)."""
        return []

    def accepts_any_model(self) -> bool:
        return False

    # --- calls -----------------------------------------------------------
    @abstractmethod
    def map_params(self, params: Params) -> dict[str, Any]:
        """The SDK's keyword arguments for ``params``."""

    @abstractmethod
    async def complete(self, model: str, messages: Sequence[dict[str, str]], params: Params,
                       *, timeout: float | None = None) -> Completion:
        """One chat completion."""

    @abstractmethod
    def stream(self, model: str, messages: Sequence[dict[str, str]], params: Params,
               *, timeout: float | None = None) -> AsyncIterator[Delta | Completion]:
        """Yield text deltas as they arrive, then one final :class:`Completion`."""

    def translate_error(self, exc: BaseException, *, streaming: bool, partial: str | None = None,
                        label: str | None = None) -> WorkbenchError:
        """``exc``, raised while calling this provider, as the workbench's error (one mapping for all).

        ``label`` names the provider in the message (default :attr:`error_label`).
        """
        return translate(exc, provider=label or self.error_label, key_env=self.key_env, streaming=streaming,
                         partial=partial, fallback=self.fallback_error)

    def loop_client(self, key: str, make: Callable[[], Any]) -> Any:
        """The SDK client for this event loop and key, made by ``make`` on first use.

        An async client's connection pool belongs to the loop that created it, so
        each loop (the portal, or a test's ``asyncio.run``) gets its own; a changed
        key replaces the old client.
        """
        clients = self.__dict__.setdefault("_loop_clients", weakref.WeakKeyDictionary())
        per_loop = clients.setdefault(asyncio.get_running_loop(), {})
        if key not in per_loop:
            per_loop.clear()
            per_loop[key] = make()
        return per_loop[key]

    def pending_load_bytes(self, model: str) -> int | None:
        """Bytes the next call to ``model`` must load into memory first (a local model's file), else ``None``."""
        return None

    async def warm_up(self, model: str) -> None:  # noqa: B027 - optional hook
        """Load what the first call needs (a local model), so latency measures the call alone."""

