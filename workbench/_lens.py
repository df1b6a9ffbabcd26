"""The token lens's actions: how a prompt splits into tokens, and branching an answer at a token.

``wb.tokenize("local:smollm2", text)`` uses the local model's own tokenizer;
a hosted model's tokenizer is not available offline, so its count comes from
the ``usage`` of a call (``call=True`` sends one with ``max_tokens=1``).

:func:`branch` answers "what if it had said X?": it continues the same
messages with the answer's first ``position`` tokens plus the alternative ``X``
as a trailing assistant message, which the local model and OpenAI-compatible
servers continue (``Provider.branch_refusal`` says where that is not possible,
and why). The branch is a normal logged call.
"""

from __future__ import annotations

import codecs
import html
from dataclasses import dataclass, field
from typing import Any

from ._params import PARAM_NAMES, Params
from ._portal import run_sync
from ._runner import Runner, get_runner
from ._tokens import Token, TokensError, visible
from ._types import Request, Response
from .providers import resolve

__all__ = ["tokenize", "TokenSplit", "Branch", "branch", "branch_request", "branch_refusal", "require_tokens"]


@dataclass(frozen=True)
class TokenSplit:
    """How a text splits into a model's tokens: ``pieces`` (texts) and ``ids``, or only a ``count``."""

    model: str
    text: str
    pieces: list[str] | None
    ids: list[int] | None
    count: int
    source: str  # "tokenizer" (the model's own) or "usage" (a call's prompt_tokens, chat overhead included)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        shown = "" if self.pieces is None else f" {[p for p in self.pieces[:12]]!r}{'...' if self.count > 12 else ''}"
        return f"<TokenSplit {self.model}: {self.count} tokens ({self.source}){shown}>"

    def _repr_html_(self) -> str:
        if self.pieces is None:
            return (f"<div class='wb-token-split'><b>{self.count}</b> prompt tokens for {html.escape(self.model)} "
                    f"(from the call's usage, the chat template's tokens included)</div>")
        spans = "".join(
            f"<span class='wb-split-piece' style='background:{'#e8eef7' if i % 2 else '#fbe9d0'};"
            f"border-radius:3px;padding:0 1px;white-space:pre-wrap' title='id {self.ids[i] if self.ids else ''}'>"
            f"{html.escape(visible(p))}</span>" for i, p in enumerate(self.pieces))
        return (f"<div class='wb-token-split'><div style='color:#555'><b>{self.count}</b> tokens for "
                f"{html.escape(self.model)} (its own tokenizer; · is a space, ↵ a newline)</div>"
                f"<div style='font-family:monospace;line-height:1.8'>{spans}</div></div>")


def tokenize(model: str, text: str, *, call: bool = False, runner: Runner | None = None) -> TokenSplit:
    """How ``text`` splits into ``model``'s tokens, with the count.

    Local models use their own tokenizer (no chat template: the text alone).
    Hosted models: ``call=True`` sends ``text`` once with ``max_tokens=1`` and
    reports the call's ``usage.prompt_tokens`` (which includes the chat
    template's few tokens); without it a :class:`TokensError` says so.
    """
    provider, name = resolve(model)
    if not isinstance(text, str):
        raise TokensError(f"wb.tokenize needs the text as a str, not {type(text).__name__}. Fix: pass a string.")
    if provider.name == "local":
        from .providers._logits import split_text

        ids, pieces = split_text(provider, name, text)
        return TokenSplit(model, text, pieces, ids, len(ids), "tokenizer")
    if not call:
        raise TokensError(
            f"{model}'s tokenizer is not available offline, so the text cannot be split here. Fix: "
            f"wb.tokenize({model!r}, text, call=True) sends it once with max_tokens=1 and reads the count from the "
            "call's usage, or read r.usage.prompt_tokens of a call you made; local models split offline."
        )
    from ._api import complete

    response = complete(model, [{"role": "user", "content": text}], max_tokens=1, runner=runner)
    return TokenSplit(model, text, None, None, response.usage.prompt_tokens, "usage")


def split_pieces(detokenize: Any, ids: list[int]) -> list[str]:
    """Each id's text; a character split over several tokens goes to the token that completes it."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return [decoder.decode(detokenize([i])) for i in ids]


# --- branching ----------------------------------------------------------------------
def require_tokens(response: Response) -> list[Token]:
    """The response's tokens, or the error that says how to get them."""
    if not isinstance(response, Response):
        raise TokensError(f"The token lens needs a wb.Response, not {type(response).__name__}. "
                          "Fix: pass the result of wb.complete(..., logprobs=True).")
    if response.error:
        raise TokensError(f"This call failed ({response.error_type}), so it has no tokens to show. "
                          "Fix: run it again and pass the successful response.")
    if not response.tokens:
        raise TokensError(
            f"This answer from {response.model} has no token probabilities: the call did not ask for them. "
            f"Fix: call again with logprobs=True (and top_logprobs=5 for alternatives), e.g. "
            f"wb.complete({response.model!r}, prompt, logprobs=True, top_logprobs=5)."
        )
    return response.tokens


def branch_refusal(response: Response) -> str | None:
    """Why ``response`` cannot be branched (``None``: it can)."""
    try:
        provider, _ = resolve(response.model)
    except Exception as exc:  # noqa: BLE001 - an unknown provider cannot branch; say why
        return str(exc)
    reason = provider.branch_refusal
    if reason is None and not (response.request or {}).get("messages"):
        reason = "the answer does not record the messages it was asked, so it cannot be continued"
    if reason is None:
        return None
    cached = " (this answer came from the log, but a branch is a new call to the same provider)" if response.cached \
        else ""
    return f"{response.model} cannot branch: {reason}{cached}."


@dataclass
class Branch:
    """A continuation of an answer with the token at ``position`` forced to ``forced``."""

    position: int
    forced: Token
    prefix: str  # the answer's text before the position, plus the forced token
    response: Response  # the continuation (a logged call)
    tokens: list[Token] = field(default_factory=list)  # prefix tokens, the forced one, then the continuation's

    @property
    def text(self) -> str:
        return self.prefix + self.response.text

    @property
    def continuation(self) -> str:
        return self.response.text


def branch_request(response: Response, position: int, alternative: str, *,
                   max_tokens: int | None = None) -> tuple[Request, Token, str]:
    """The request that continues ``response`` with token ``position`` forced to ``alternative``."""
    tokens = require_tokens(response)
    if not 0 <= position < len(tokens):
        raise TokensError(f"position={position} is not a token of this answer. Fix: pass 0 to {len(tokens) - 1}.")
    refusal = branch_refusal(response)
    if refusal is not None:
        raise TokensError(f"{refusal} Fix: use local:smollm2 or an OpenAI-compatible endpoint (wb.add_endpoint) "
                          "to branch; the alternatives and their probabilities are still shown.")
    token = tokens[position]
    logprob = dict(token.top).get(alternative)
    if logprob is None and alternative != token.text:
        shown = ", ".join(repr(a) for a, _ in token.top) or repr(token.text)
        raise TokensError(f"{alternative!r} is not among the alternatives at position {position} ({shown}). "
                          "Fix: pick one of them.")
    forced = Token(alternative, token.logprob if logprob is None else logprob, token.top)
    messages = [dict(m) for m in response.request["messages"]]
    before = "".join(t.text for t in tokens[:position])
    if messages and messages[-1].get("role") == "assistant":  # branching a branch: its prefix comes first
        before = str(messages.pop().get("content") or "") + before
    prefix = before + alternative
    sent = {k: v for k, v in response.request.items() if k in PARAM_NAMES and k not in ("n", "max_tokens")}
    sent.update(logprobs=True, top_logprobs=len(token.top) or None)
    left = response.request.get("max_tokens") or response.request.get("max_completion_tokens")
    wanted = max_tokens or (max(int(left) - position - 1, 1) if left else None)
    if wanted:
        sent["max_tokens"] = wanted
    params = Params.build(sent)
    request = Request(response.model, (*messages, {"role": "assistant", "content": prefix}), params,
                      response.prompt_hash, tags={"branch_of": response.call_id, "position": position})
    return request, forced, prefix


def branch(response: Response, position: int, alternative: str, *, runner: Runner | None = None,
           max_tokens: int | None = None) -> Branch:
    """Continue ``response`` with its token at ``position`` replaced by ``alternative`` (one new call)."""
    request, forced, prefix = branch_request(response, position, alternative, max_tokens=max_tokens)
    runner = runner or get_runner()
    result = run_sync(runner.call(request)).raise_for_error()
    return make_branch(response, position, forced, prefix, result)


def make_branch(response: Response, position: int, forced: Token, prefix: str, result: Response) -> Branch:
    tokens = list(response.tokens or [])[:position] + [forced] + list(result.tokens or [])
    return Branch(position, forced, prefix, result, tokens)
