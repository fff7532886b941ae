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
from dlpipe.language.pipeline import Pipeline, pipeline_model, source_class
from dlpipe.language.sweep import check_sweep
from dlpipe.language.validation import problems_from_validation

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000  # an alias bomb expands far beyond this


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
        return self.errors([Problem(exc.path, str(exc))])


def read_source(path: Path) -> str:
    """The file's text, or a one-line PipelineError saying why it cannot be used."""
    if not path.exists():
        raise PipelineError(f"{path}: no such file")
    if path.is_dir():
        raise PipelineError(f"{path}: is a directory; expected a pipeline YAML file")
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise PipelineError(f"{path}: {len(data)} bytes; a pipeline file is at most {MAX_FILE_BYTES} bytes")
    if _looks_utf16(data):
        raise PipelineError(f"{path}: is UTF-16 text; save it as UTF-8 (most editors: Save with Encoding)")
    if b"\0" in data:
        raise PipelineError(f"{path}: looks like a binary file; expected a YAML text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    if not text.strip():
        raise PipelineError(f"{path}: the file is empty; start from pipelines/sine.yaml")
    return text


def _looks_utf16(data: bytes) -> bool:
    """A byte-order mark, or ASCII text with a zero byte beside every character."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = data[:64 - len(data[:64]) % 2]
    halves = (head[0::2], head[1::2])
    return len(head) >= 4 and any(set(zeros) == {0} and all(32 <= b < 127 or b in (9, 10, 13) for b in text)
                                  for zeros, text in (halves, halves[::-1]))


def parse_yaml(path: Path, text: str) -> tuple[dict, yaml.Node, list[Problem]]:
    """Compose and construct with SafeLoader; duplicate keys become problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise PipelineError(f"{path}: holds only comments; expected a mapping with data: and model:")
        _check_size(path, node)
        data = yaml.SafeLoader(text).construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(exc.problem):
            tag = str(exc.problem).split("'")[1].replace("tag:yaml.org,2002:", "!!") if "'" in exc.problem else "?"
            raise PipelineError(f"{where}: the YAML tag {tag} is not allowed: a pipeline file holds plain "
                                "data (mappings, lists, strings, numbers, booleans), never Python objects") from None
        raise PipelineError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise PipelineError(f"{path}: the YAML is nested too deeply to be a pipeline; refused") from None
    if not isinstance(data, dict):
        got, mark = type(data).__name__, node.start_mark
        raise PipelineError(f"{path}:{mark.line + 1}:{mark.column + 1}: the top level is a {got}; "
                            "expected a mapping (name:, data:, model:, ...)")
    return data, node, list(_duplicate_keys(node))


def _safe_value(where: str, text: str) -> Any:
    """A --set value read with the same limits as a file: safe tags only, aliases bounded."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    _check_size(where, node)
    return yaml.SafeLoader(text).construct_document(node)


def _check_size(path: Path | str, root: yaml.Node) -> None:
    """Refuse documents whose aliases would expand into a huge structure."""
    budget = [MAX_EXPANDED_NODES]

    def visit(node: yaml.Node) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise PipelineError(f"{path}: YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes; refused")
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                visit(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                visit(key)
                visit(value)

    visit(root)


def _duplicate_keys(node: yaml.Node, path: tuple = ()):
    """Yield a Problem for every key given twice in one mapping (PyYAML keeps the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name in seen:
                first = seen[name].start_mark.line + 1
                yield Problem(path + (name,), f"key given twice (first on line {first}); keep one", key)
            elif name is not None:
                seen[name] = key
            yield from _duplicate_keys(value, path + (name,))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, path + (index,))


def default_section(data: dict, override: str) -> None:
    """Write out a top-level section the file leaves at its default before a --set changes one of its keys.

    `--set optimizer.lr=0.01` on a file without `optimizer:` then changes the default optimizer's lr
    (adam's), instead of making an optimizer with no type.
    """
    key = override.partition("=")[0].strip().split(".")[0]
    field = pipeline_model().model_fields.get(key)
    if key in data or "." not in override.partition("=")[0] or field is None or field.default_factory is None:
        return
    default = field.default_factory()
    if hasattr(default, "model_dump"):
        data[key] = default.model_dump(mode="json", exclude_defaults=True) | (
            {"type": default.type} if hasattr(default, "type") else {})


def apply_override(data: dict, override: str) -> None:
    """Apply one `key.path=value` in place; the value is read as a YAML scalar."""
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"--set {override}: expected key.path=value, e.g. --set optimizer.lr=0.01")
    try:
        value = _safe_value(f"--set {override}", value_text) if value_text.strip() else ""
    except (yaml.YAMLError, RecursionError):
        raise PipelineError(f"--set {override}: the value {value_text!r} is not valid YAML") from None
    parts = key.strip().split(".")
    target: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise PipelineError(
                    f"--set {override}: {where}: expected an index 0..{len(target) - 1} into a list of {len(target)}"
                )
            part = int(part)
        elif not isinstance(target, dict):
            raise PipelineError(f"--set {override}: {where}: the value above it is not a mapping or list")
        if last:
            target[part] = value
        else:
            if isinstance(target, dict) and not isinstance(target.get(part), (dict, list)):
                target[part] = {"type": target[part]} if isinstance(target.get(part), str) else {}
            target = target[part]


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
        problems.append(Problem(exc.path, str(exc)))
        task, reason = "regression", ""  # a stand-in: the pipeline is refused for the problem above, not for a missing loss
    data["data"] = {**raw, "task": task}
    return reason
