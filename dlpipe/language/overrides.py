"""`--set key.path=value` overrides, and a sweep's values tried as overrides before anything runs.

Each override is read as one YAML value (with the file's limits); a section the file
leaves at its default is written out first, so `--set optimizer.lr=0.01` changes the
default optimizer's lr. `check_sweep` tries every value a parameter can take (each
choice, each end of a range) on the pipeline, so a learning-rate range reaching 0 or
`units: {choice: [0]}` is refused before anything runs, at the parameter's line.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from dlpipe.language.errors import PipelineError, Problem
from dlpipe.language.pipeline import pipeline_model
from dlpipe.language.sweep import Sweep, yaml_text
from dlpipe.language.yamltext import safe_value


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
        value = safe_value(f"--set {override}", value_text) if value_text.strip() else ""
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


def check_sweep(raw: dict, sweep: Sweep, validate, origin: dict[str, str] | None = None) -> list[Problem]:
    """Problems of a sweep against the raw pipeline: each probe value is set like --set, then validated.

    validate(data) returns the pipeline's Problems for that data; origin maps a parameter to the flag that gave it.
    """
    problems = []
    for key, parameter in sweep.parameters.items():
        for value in parameter.probes:
            data = copy.deepcopy(raw)
            data.pop("sweep", None)
            try:
                default_section(data, f"{key}={yaml_text(value)}")
                apply_override(data, f"{key}={yaml_text(value)}")
                found = validate(data)
            except PipelineError as exc:
                found = [Problem((), str(exc).split(": ", 2)[-1])]
            if found:
                first = found[0]
                dotted = ".".join(str(part) for part in first.path)
                problems.append(Problem(("sweep", "parameters", key), f"{_origin(origin, key)}with {key} = "
                                        f"{yaml_text(value)}: {dotted + ': ' if dotted else ''}{first.message}"))
                break
    return problems


def _origin(origin: dict[str, str] | None, key: str) -> str:
    return f"{origin[key]}: " if origin and key in origin else ""
