"""Read a pipeline file: safe YAML with positions, `--set` overrides, pydantic validation.

Every problem becomes a `PipelineError` whose message names the file, the line,
the key and what was expected, ready to print; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import copy

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import ValidationError

from dlpipe.language.errors import InvalidValue, PipelineError, Problem, find_node, override_for
from dlpipe.language.overrides import apply_override, check_sweep, default_section
from dlpipe.language.paths import resolved
from dlpipe.language.pipeline import Pipeline, pipeline_model, source_class
from dlpipe.language.validation import problems_from_validation
from dlpipe.language.extends import read_composed
from dlpipe.language.yamltext import construct


@dataclass(frozen=True)
class Loaded:
    """A validated pipeline plus what is needed to point back into its source."""

    pipeline: Pipeline
    path: Path
    text: str
    node: yaml.Node
    overrides: tuple[str, ...]
    task_reason: str = ""  # why an auto task was decided as it was ("target 'species' holds 3 strings")
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # what was validated: overrides and task in
    texts: dict = field(default_factory=dict, repr=False, compare=False)  # every file read (extends), name -> text

    @property
    def identity_text(self) -> str:
        """The text that identifies the pipeline as written (its bases included) for the archive's checksum."""
        return self.text if len(self.texts) <= 1 else "".join(f"# {n}\n{t}" for n, t in reversed(self.texts.items()))

    def place(self, path: tuple) -> str | None:
        """Where the key at `path` is written: its line, or FILE:LINE in a pipeline that extends base files."""
        node = find_node(self.node, path)
        if node is None:
            return None
        line = node.start_mark.line + 1
        own = node.start_mark.name == str(self.path) and len(self.texts) <= 1  # with bases, every value names its file
        return str(line) if own else f"{node.start_mark.name}:{line}"

    def origin(self, path: tuple) -> str:
        """Where the value at `path` came from: a --set, a line of the file, or a default."""
        override = override_for(path, self.overrides)
        if path == ("data", "task") and self.task_reason:
            return f"auto: {self.task_reason}"
        if override:
            return f"--set {override}"
        place = self.place(path)
        if place is None and path[-1:] == ("type",):
            place = self.place(path[:-1])  # a shorthand such as `loss: mse` gave the type
        if place is not None:
            file, _, line = place.rpartition(":")
            return f"{file} line {line}" if file else f"line {line}"
        return "from the file name" if path == ("name",) else "default"

    def render(self, problems: list[Problem]) -> str:
        """Problems as text (used for warnings, which do not stop anything)."""
        return "\n".join(p.render(self.path, (self.texts or self.text), self.node, self.overrides) for p in problems)

    def errors(self, problems: list[Problem]) -> PipelineError:
        """A PipelineError pointing each problem at its place in this file (or at the --set that set it)."""
        return PipelineError.from_problems(self.path, (self.texts or self.text), self.node, problems, self.overrides)

    def invalid(self, exc: InvalidValue) -> PipelineError:
        """The PipelineError for a value a later stage could not use."""
        return self.errors(exc.problems)


TaskDecider = Callable[[Any], tuple[str, str]]  # data config -> (task, reason); the data stage's decide_task


def load_pipeline(path: str | Path, overrides: tuple[str, ...] = (), decide_task: TaskDecider | None = None) -> Loaded:
    """Read, override and validate a pipeline; raise PipelineError listing every problem at once.

    A source whose task is auto (a CSV table, arrays) needs its targets read to know the
    task, and the task gives the default loss and metrics: decide_task (from the data
    stage, which this stage may not import) reads them and the task is written in.
    """
    path = Path(path)
    composed = read_composed(path)  # the file on top of the bases it extends
    node, problems, text = composed.node, composed.problems, composed.texts[str(path)]
    data = construct(node, composed.texts)
    # The sweep section is about the file as written: `dlpipe run --set scheduler=null` must not fail for a
    # sweep over scheduler.max_lr (dlpipe sweep checks it again with its overrides applied).
    written = copy.deepcopy(data) if overrides and isinstance(data.get("sweep"), dict) else data
    for override in overrides:
        default_section(data, override)
        apply_override(data, override)
    data.setdefault("name", path.stem)
    context = {"base_dir": resolved(path).parent}
    reason = _decide_task(data, decide_task, context, problems) if decide_task is not None else ""
    if written is not data:
        written.setdefault("name", path.stem)
        if reason and isinstance(written.get("data"), dict):
            written["data"] = {**written["data"], "task": data["data"]["task"]}
    pipeline, model = None, pipeline_model()
    try:
        pipeline = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems += problems_from_validation(exc, data, model)
    except RecursionError:
        raise PipelineError(f"{path}: the YAML is nested too deeply to be a pipeline; refused") from None
    if pipeline is not None and pipeline.sweep is not None:
        problems += check_sweep(written, pipeline.sweep, lambda raw: _problems(model, raw, context))
    if problems:
        raise PipelineError.from_problems(path, composed.texts, node, problems, overrides)
    return Loaded(pipeline, path, text, node, tuple(overrides), reason, data, composed.texts)


def check_flags(loaded: Loaded, sweep, origin: dict[str, str]) -> list[str]:
    """A sweep given by --grid flags against a loaded pipeline: each problem's message, naming its flag."""
    context = {"base_dir": resolved(loaded.path).parent}
    problems = check_sweep(loaded.raw, sweep, lambda raw: _problems(pipeline_model(), raw, context), origin)
    return [problem.message for problem in problems]


def _problems(model, data: dict, context: dict) -> list[Problem]:
    """What validating `data` finds (none: it is a valid pipeline)."""
    try:
        model.model_validate(data, context=context)
    except ValidationError as exc:
        return problems_from_validation(exc, data, model)
    return []


def _decide_task(data: dict, decide_task: TaskDecider, context: dict, problems: list[Problem]) -> str:
    """Write the decided task into data['data'] when its source leaves it to the data; returns the reason."""
    raw = data.get("data")
    source = source_class(raw)
    if source is None or source.TASK != "auto" or source.declared_task(raw) != "auto":
        return ""
    try:
        config = source.model_validate(raw, context=context)
    except ValidationError:  # validating the whole pipeline reports it, with the rest
        if raw.get("task", "auto") == "auto":  # a stand-in task, so no default loss is missing because of it
            data["data"] = {**raw, "task": "regression"}
        return ""
    try:
        task, reason = decide_task(config)
    except InvalidValue as exc:
        problems += exc.problems
        task, reason = "regression", ""  # a stand-in: the pipeline is refused for the problem above, not for a missing loss
    data["data"] = {**raw, "task": task}
    return reason
