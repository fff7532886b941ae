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
from dlpipe.language.pipeline import Pipeline, pipeline_model, source_class
from dlpipe.language.validation import problems_from_validation
from dlpipe.language.yamltext import parse_yaml, read_source


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

    def line_of(self, path: tuple) -> int | None:
        """The 1-based line of the key at `path`, or None when it comes from a --set or a default."""
        node = find_node(self.node, path)
        return node.start_mark.line + 1 if node is not None else None

    def origin(self, path: tuple) -> str:
        """Where the value at `path` came from: a --set, a line of the file, or a default."""
        override = override_for(path, self.overrides)
        if path == ("data", "task") and self.task_reason:
            return f"auto: {self.task_reason}"
        if override:
            return f"--set {override}"
        line = self.line_of(path)
        if line is None and path[-1:] == ("type",):
            line = self.line_of(path[:-1])  # a shorthand such as `loss: mse` gave the type
        if line is not None:
            return f"line {line}"
        return "from the file name" if path == ("name",) else "default"

    def render(self, problems: list[Problem]) -> str:
        """Problems as text (used for warnings, which do not stop anything)."""
        return "\n".join(p.render(self.path, self.text, self.node, self.overrides) for p in problems)

    def errors(self, problems: list[Problem]) -> PipelineError:
        """A PipelineError pointing each problem at its place in this file (or at the --set that set it)."""
        return PipelineError.from_problems(self.path, self.text, self.node, problems, self.overrides)

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
    text = read_source(path)
    data, node, problems = parse_yaml(path, text)
    # The sweep section is about the file as written: `dlpipe run --set scheduler=null` must not fail for a
    # sweep over scheduler.max_lr (dlpipe sweep checks it again with its overrides applied).
    written = copy.deepcopy(data) if overrides and isinstance(data.get("sweep"), dict) else data
    for override in overrides:
        default_section(data, override)
        apply_override(data, override)
    data.setdefault("name", path.stem)
    context = {"base_dir": path.resolve().parent}
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
        raise PipelineError.from_problems(path, text, node, problems, overrides)
    return Loaded(pipeline, path, text, node, tuple(overrides), reason, data)


def check_flags(loaded: Loaded, sweep, origin: dict[str, str]) -> list[str]:
    """A sweep given by --grid flags against a loaded pipeline: each problem's message, naming its flag."""
    context = {"base_dir": loaded.path.resolve().parent}
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
    except ValidationError:
        return ""  # validating the whole pipeline reports it, with the rest
    try:
        task, reason = decide_task(config)
    except InvalidValue as exc:
        problems += exc.problems
        task, reason = "regression", ""  # a stand-in: the pipeline is refused for the problem above, not for a missing loss
    data["data"] = {**raw, "task": task}
    return reason
