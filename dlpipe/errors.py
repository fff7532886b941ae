"""Turn validation problems into messages that point into the YAML file.

Each message reads `FILE:LINE:COL: path.to.key: what is wrong (got X; expected Y)`,
followed by the source line and a caret, so a user fixes it without reading code.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dlpipe.config import Pipeline


class PipelineError(Exception):
    """An invalid pipeline or argument; str(error) is the full, printable message."""

    @classmethod
    def from_problems(cls, path: Path, text: str, root: yaml.Node, problems: list, overrides=()) -> PipelineError:
        lines = [p.render(path, text, root, overrides) for p in problems]
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        return cls("\n".join(lines) + f"\n{path}: {count}; nothing was run")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a key path such as ('model', 'layers', 0, 'units')."""

    path: tuple
    message: str
    node: yaml.Node | None = None

    def render(self, file: Path, text: str, root: yaml.Node, overrides=()) -> str:
        dotted = ".".join(str(part) for part in self.path) or "(top level)"
        override = _override_for(self.path, overrides)
        if override:
            return f"--set {override}: {dotted}: {self.message}"
        node = self.node or _node_at(root, self.path)
        mark = node.start_mark
        source = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        caret = " " * mark.column + "^"
        return f"{file}:{mark.line + 1}:{mark.column + 1}: {dotted}: {self.message}\n    {source}\n    {caret}"


def _override_for(path: tuple, overrides) -> str | None:
    """The --set that produced the value at `path`, if any (the latest wins)."""
    dotted = [str(p) for p in path]
    for override in reversed(tuple(overrides)):
        key = override.partition("=")[0].strip().split(".")
        if dotted[: len(key)] == key or key[: len(dotted)] == dotted:
            return override
    return None


def _node_at(root: yaml.Node, path: tuple) -> yaml.Node:
    """The deepest node on `path`: the key node for a mapping entry, the item for a list."""
    node = root
    for depth, part in enumerate(path):
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not match:
                return node
            key, value = match[-1]
            node = value
            if depth == len(path) - 1 and not isinstance(value, (yaml.MappingNode, yaml.SequenceNode)):
                return key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def problems_from_validation(exc: ValidationError, data: dict) -> list[Problem]:
    """One Problem per pydantic error, with the union tags dropped from its path."""
    return [_problem(error, data) for error in exc.errors(include_url=False)]


def _problem(error: dict, data: dict) -> Problem:
    loc = tuple(error["loc"])
    path = _data_path(loc, data)
    kind, got = error["type"], error.get("input")
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        allowed = _allowed_keys(_annotation_at(loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return Problem(path, f"unknown key '{loc[-1]}'; {hint}(valid keys: {', '.join(allowed)})")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _union_tags(_annotation_at(loc))
        close = difflib.get_close_matches(str(ctx.get("tag", "")), tags, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = f"unknown type '{ctx['tag']}'" if kind == "union_tag_invalid" else "missing 'type:'"
        return Problem(path, f"{what}{hint} (valid types: {', '.join(tags)})")
    if kind == "missing":
        return Problem(path, "required key is missing")
    message = error["msg"].removeprefix("Value error, ")
    if kind != "value_error" and not isinstance(got, (dict, list)):
        message += f" (got {got!r})"
    return Problem(path, message)


def _data_path(loc: tuple, data: Any) -> tuple:
    """Drop the discriminator values pydantic inserts into locations of tagged unions."""
    path, node = [], data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(path)


def _annotation_at(loc: tuple) -> Any:
    """Follow a pydantic error location through the Pipeline model's type annotations."""
    annotation: Any = Pipeline
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        elif typing.get_origin(annotation) in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        elif _is_union(annotation):
            annotation = next((m for m in _members(annotation) if str(part) in _tags(m)), None)
        if annotation is None:
            return None
    return annotation


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _members(annotation: Any) -> list:
    return [_unwrap(m) for m in typing.get_args(annotation) if m is not type(None)]


def _tags(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel) and "type" in model.model_fields:
        return list(typing.get_args(model.model_fields["type"].annotation))
    return []


def _union_tags(annotation: Any) -> list[str]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is list:
        annotation = _unwrap(typing.get_args(annotation)[0])
    return [tag for member in _members(annotation) for tag in _tags(member)] if _is_union(annotation) else []


def _allowed_keys(annotation: Any) -> list[str]:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []
