"""The Playground's state: one prompt, one model, one answer (``n`` samples), versions and ratings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import PromptError
from .._log import RunLog, Version
from .._params import Params
from .._prompt import Prompt, as_prompt
from .._runner import Runner
from .._types import Request, Response
from . import cards
from .answer import Answer
from .base import OneModelState, stream_into
from .code import RawRequest, python_code, raw_request
from .history import HistoryScope, PastRun, editor_tags, past_runs
from .inputs import (
    check_filled,
    default_model,
    prompt_from_text,
    split_kwargs,
    variables_in,
)
from .params_form import build_params
from .typed_keys import typed_key_warning
from .versions import VersionDiff, diff_versions, version_label

__all__ = ["PlaygroundState"]


class PlaygroundState(OneModelState):
    """One prompt, one model, one answer (``n`` samples), versions and ratings.

    Fields a view edits: ``system``, ``user``, ``examples``, ``variables``
    (variable values, kept for variables that were removed so they come back
    when retyped), ``model`` and ``params`` (only the parameters that are set).

    >>> s = PlaygroundState(wb.Prompt(user="Tell me about {topic}"), model="local:smollm2",
    ...                     max_tokens=32, log=":memory:")  # doctest: +SKIP
    >>> s.set_variable("topic", "owls"); s.run().text  # doctest: +SKIP
    """

    def __init__(self, prompt: Prompt | str | None = None, model: str | None = None, *,
                 variables: Mapping[str, Any] | None = None, runner: Runner | None = None,
                 log: RunLog | str | None = None, **kwargs: Any) -> None:
        p = as_prompt(prompt or "", template=True)
        param_kwargs, var_kwargs = split_kwargs(kwargs, p)
        self._init_run(runner, log)
        self.system: str = p.system or ""
        self.user: str = p.user
        self.examples: tuple[tuple[str, str], ...] = p.examples
        self.name: str | None = p.name
        self.variables: dict[str, str] = {k: str(v) for k, v in {**(variables or {}), **var_kwargs}.items()}
        self.model: str = model or default_model()
        self.params: dict[str, Any] = build_params(param_kwargs).set()
        self.answer: Answer = Answer(model=self.model)
        self._named_inputs = self._version_inputs()  # what ``name`` describes (a loaded version, or the prompt)
        self._answer_inputs: tuple[Any, ...] | None = None  # the inputs the shown answer was made from

    # --- what the shown name and answer describe ---------------------------
    def _version_inputs(self) -> tuple[Any, ...]:
        """What a saved version holds: the prompt, the parameters and the model (not the variables)."""
        return (self.system, self.user, tuple(self.examples), self.model, repr(sorted(self.params.items())))

    def _run_inputs(self) -> tuple[Any, ...]:
        return (*self._version_inputs(), repr(sorted(self.variables.items())))

    @property
    def label(self) -> str:
        """The name answers are labelled with: the loaded version's, ``"<name> (edited)"`` once changed."""
        if not self.name:
            return ""
        return self.name if self._version_inputs() == self._named_inputs else f"{self.name} (edited)"

    @property
    def answer_is_current(self) -> bool:
        """Whether the answer shown was made from the prompt, model, parameters and variables shown now."""
        return self._answer_inputs is not None and self._answer_inputs == self._run_inputs()

    def status_text(self) -> str:
        """The run status a view shows: ``"done in 0.42 s"``, ``"failed"``, ``"stopped"``, ``"running…"``.

        Empty once the prompt, model, parameters or variables changed since that answer.
        """
        a = self.answer
        if self.running:
            return "loading the model…" if self.answer.loading else "running…"
        if not self.answer_is_current:
            return ""
        if a.status == "done" and a.response is not None:
            return f"done in {a.response.latency_s:.2f} s"
        return {"error": "failed", "stopped": "stopped"}.get(a.status, "")

    # --- editing ---------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return variables_in(self.system, self.user, self.examples)

    def prompt(self) -> Prompt:
        """The prompt as typed (raises :class:`PromptError` on a malformed placeholder)."""
        return prompt_from_text(self.system, self.user, self.examples, self.name)

    def build_params(self) -> Params:
        return build_params(self.params)

    @property
    def key_warning(self) -> str | None:
        """A warning when the system or user message or a variable holds what looks like an API key
        (saved with the notebook's widget state); the key is masked in the summary either way."""
        fields = {"system message": self.system, "user message": self.user}
        fields.update({f"variable {{{name}}}": self.variables.get(name, "") for name in self.variable_names})
        return typed_key_warning(fields)

    def prepare(self) -> Request:
        """Validate everything offline (variables, parameters, model, key) and return the request."""
        prompt = self.prompt()
        values = check_filled(prompt.variable_order, self.variables)
        params = self.build_params()
        return self._runner.prepare(self.model, prompt, values, params, tags=editor_tags(prompt, values, params.set()))

    # --- the same call as code (see code.py) -------------------------------
    def code(self) -> str:
        """The ``wb.complete(...)`` Python that sends the same request as Run (the variables as typed)."""
        prompt = self.prompt()
        values = {name: self.variables.get(name, "") for name in prompt.variable_order}
        return python_code(self.model, prompt, values, self.build_params().set())

    def raw_request(self) -> RawRequest:
        """What the provider receives for this prompt (endpoint, headers without the key, JSON body).

        Needs every variable filled, not the key: the body can be read before a key is set.
        """
        prompt = self.prompt()
        values = check_filled(prompt.variable_order, self.variables)
        return raw_request(Request(self.model, tuple(prompt.render(values)), self.build_params(), prompt.hash))

    # --- running ---------------------------------------------------------
    def _prepare_run(self) -> Request:
        request = self.prepare()
        self._answer_inputs = self._run_inputs()
        self.answer = Answer(label=self.label, model=self.model)
        return request

    async def _perform(self, request: Request) -> Response | None:
        return await stream_into(self._runner, request, self.answer, lambda: self.changed("answer"))

    # --- ratings ---------------------------------------------------------
    def rate(self, rating: int | None, note: str | None = None) -> None:
        """Rate the current answer +1 / -1 (``None`` clears) with an optional note, in the run log."""
        self._rate(self.answer, rating, note)

    # --- versions --------------------------------------------------------
    def save_version(self, name: str, note: str | None = None) -> Version:
        """Store the prompt as typed, with its parameters and model, under ``name``."""
        version = self._need_log("Saving a version").save_version(
            name, self.prompt(), self.build_params().set(), self.model, note)
        self.info = f"Saved {version_label(version)}."
        self.changed("versions")
        return version

    def versions(self) -> list[Version]:
        """Saved versions, newest first."""
        return self._log.versions() if self._log is not None else []

    def _version(self, version: int | Version) -> Version:
        return version if isinstance(version, Version) else self._need_log("Loading a version").version(int(version))

    def diff(self, a: int | Version, b: int | Version) -> VersionDiff:
        """A readable diff between two saved versions (ids or :class:`Version` objects)."""
        return diff_versions(self._version(a), self._version(b))

    def load_version(self, version: int | Version) -> Version:
        """Put a saved version back into the editor (prompt, parameters and model)."""
        v = self._version(version)
        p = Prompt.from_dict(v.prompt)
        self.system, self.user, self.examples, self.name = p.system or "", p.user, p.examples, v.name
        self.params = build_params(v.params).set()
        if v.model:
            self.model = v.model
        self._named_inputs = self._version_inputs()
        self.info = f"Loaded {version_label(v)}."
        self.changed("loaded")
        return v

    # --- history (see history.py) -----------------------------------------
    def history(self, scope: HistoryScope = "prompt", limit: int = 50) -> list[PastRun]:
        """Earlier runs from the run log, newest first: of this prompt (as typed), this model, or all."""
        log = self._runner.run_log
        if log is None:
            return []
        if scope == "prompt":
            try:
                return past_runs(log, prompt_hash=self.prompt().hash, limit=limit)
            except PromptError:
                return []  # a half-typed placeholder: no prompt to match yet
        return past_runs(log, model=self.model if scope == "model" else None, limit=limit)

    def load_run(self, run: PastRun) -> PastRun:
        """Put an earlier run back: its prompt, variables, parameters, model, and its answer (rateable)."""
        p = run.prompt
        self.system, self.user, self.examples, self.name = p.system or "", p.user, p.examples, None
        self.variables.update(run.variables)
        self.params = build_params(run.params).set()
        self.model = run.model
        self._named_inputs = self._version_inputs()
        answer = Answer(model=run.model)
        if run.response is not None:
            answer.finish(run.response)
            answer.rating, answer.note = run.rating, run.note
        self.answer = answer
        self._answer_inputs = self._run_inputs()
        self.info = f"Loaded run #{run.call_id} of {run.when}: its prompt, parameters and answer."
        self.changed("loaded")
        return run

    # --- static form (see cards.py) --------------------------------------
    def summary_text(self) -> str:
        self.key_warning  # noqa: B018 - registers a typed key (even a Mistral-shaped one) so the summary masks it
        return cards.playground_text(self)

    def summary_html(self) -> str:
        self.key_warning  # noqa: B018 - as in summary_text
        return cards.playground_html(self)
