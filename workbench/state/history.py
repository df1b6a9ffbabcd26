"""The Playground's history: earlier runs read back from the run log, each one loadable.

Every call is already a row of the SQLite run log (its request, answer,
figures and rating). A Playground run also tags its row with what the editor
held (the prompt with its ``{variables}``, their values and the parameters
that were set), so loading it back gives the very same editor. Rows without
those tags (calls made with ``wb.complete``, or before this was recorded)
load from the messages that were sent: the same prompt, with the variables
already filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .._log import RunLog, row_to_response
from .._params import PARAM_NAMES
from .._prompt import Prompt
from .._types import Response

__all__ = ["PastRun", "past_runs", "HistoryScope", "HISTORY_SCOPES", "editor_tags"]

HistoryScope = Literal["prompt", "model", "all"]
#: The scopes a view offers, with their labels.
HISTORY_SCOPES: dict[str, str] = {"prompt": "this prompt", "model": "this model", "all": "all runs"}

#: Parameter names as some SDKs spell them in the logged request, back to ours.
_SDK_NAMES = {"max_completion_tokens": "max_tokens", "random_seed": "seed"}


def editor_tags(prompt: Prompt, variables: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """What a Playground run records in its log row's tags so that :func:`past_runs` can load it back."""
    return {"source": "playground", "prompt": prompt.to_dict(), "variables": dict(variables),
            "params": dict(params)}


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _prompt_from_messages(messages: list[dict[str, Any]]) -> Prompt:
    """The prompt that renders to ``messages`` (literal text: braces escaped, no variables)."""
    texts = [(str(m.get("role")), str(m.get("content") or "")) for m in messages]
    system = texts[0][1] if texts and texts[0][0] == "system" else None
    rest = texts[1:] if system is not None else texts
    user = rest[-1][1] if rest else ""
    middle = rest[:-1]
    examples = tuple((_escape(middle[i][1]), _escape(middle[i + 1][1])) for i in range(0, len(middle) - 1, 2))
    return Prompt(user=_escape(user), system=_escape(system) if system else None, examples=examples)


@dataclass(frozen=True)
class PastRun:
    """One earlier call as the history lists it, with what loading it puts back."""

    call_id: int
    created_at: str
    model: str
    status: str
    prompt: Prompt
    variables: dict[str, str]
    params: dict[str, Any]
    text: str
    rating: int | None = None
    note: str = ""
    error_type: str | None = None
    #: The logged response (answer, figures, call id for rating).
    response: Response | None = field(default=None, compare=False, repr=False)

    @property
    def when(self) -> str:
        try:
            return datetime.fromisoformat(self.created_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self.created_at

    def label(self) -> str:
        """``#12 · 16:40:03 · local:smollm2 · temperature=0.7 · "Owls hunt at…" · +1``: one line of the list."""
        params = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in sorted(self.params.items()))
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), "")
        first = first if len(first) <= 60 else first[:57] + "…"
        if self.status != "ok":
            first = ("stopped: " if self.error_type == "CancelledRunError" else "failed: ") + first
        rating = {1: " · +1", -1: " · −1", 0: " · 0"}.get(self.rating, "") if self.rating is not None else ""
        parts = [f"#{self.call_id}", self.when[5:], self.model, params or "defaults", f'"{first}"' if first else "—"]
        return " · ".join(parts) + rating


def _from_row(row: dict[str, Any]) -> PastRun:
    tags = json.loads(row.get("tags_json") or "{}")
    request = json.loads(row.get("request_json") or "{}")
    if isinstance(tags.get("prompt"), dict):
        prompt = Prompt.from_dict(tags["prompt"])
        variables = {str(k): str(v) for k, v in (tags.get("variables") or {}).items()}
        params = dict(tags.get("params") or {})
    else:
        prompt = _prompt_from_messages(list(request.get("messages") or []))
        variables = {}
        params = {_SDK_NAMES.get(k, k): v for k, v in request.items() if _SDK_NAMES.get(k, k) in PARAM_NAMES}
    return PastRun(
        call_id=int(row["id"]), created_at=row["created_at"], model=row["model"], status=row["status"],
        prompt=prompt, variables=variables, params=params, text=row.get("text") or "",
        rating=row.get("rating"), note=row.get("rating_note") or "", error_type=row.get("error_type"),
        response=row_to_response(row),
    )


def past_runs(log: RunLog, *, prompt_hash: str | None = None, model: str | None = None,
              limit: int = 50) -> list[PastRun]:
    """Calls made outside experiments, newest first: all, or those of one prompt (its hash) or one model."""
    return [_from_row(r) for r in log.recent_calls(prompt_hash=prompt_hash, model=model, limit=limit)]
