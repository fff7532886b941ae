"""pydantic's validation errors as Problems: the key path as written, and what was expected.

Discriminator tags are dropped from locations, an unknown `type:` lists the valid ones
(with a did-you-mean), a range error states its bounds, an unknown key the valid keys.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from dlpipe.language.errors import Problem


def problems_from_validation(exc: ValidationError, data: dict, model: type[BaseModel]) -> list[Problem]:
    """One Problem per pydantic error, with union tags dropped; a value no union member takes is one Problem."""
    problems, unions = [], {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        labels = _member_labels(loc, data)
        if labels:  # an untagged union (a size: a number or a pair): pydantic reports every member
            unions.setdefault(loc[:labels[0]], []).append(error)
        else:
            problems.append(_problem(error, data, model))
    for loc, errors in unions.items():
        problems += _union_problems(loc, errors, data, model)
    return problems


def _member_labels(loc: tuple, data: Any) -> list[int]:
    """Positions in `loc` that name an alternative of an untagged union (e.g. 'literal[...]'), not data."""
    labels, node = [], data
    for i, part in enumerate(loc):
        if isinstance(part, str) and part.startswith(("literal[", "function-")):
            labels.append(i)
        elif isinstance(node, dict) and (part in node or node.get("type") == part or i == len(loc) - 1):
            node = node.get(part, node) if part in node else node  # a key, a tag, or a missing last key
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(part, str):
            labels.append(i)
    return labels


def _union_problems(loc: tuple, errors: list[dict], data: dict, model: type[BaseModel]) -> list[Problem]:
    """`got` matched no alternative: list the names accepted (did-you-mean), or what is wrong inside it."""
    got = errors[0].get("input")
    names = [n.strip(" '") for e in errors if e["type"] == "literal_error"
             for n in e["ctx"]["expected"].replace(" or ", ", ").split(",")]
    if not isinstance(got, str):
        nested = [e for e in errors if len(e["loc"]) > len(loc) + 1]  # inside a member model
        if nested:
            cleaned = []
            for error in nested:
                inner = tuple(error["loc"])
                drop = set(_member_labels(inner, data))
                cleaned.append(_problem(dict(error, loc=tuple(p for i, p in enumerate(inner) if i not in drop)), data,
                                        model))
            return cleaned
    close = difflib.get_close_matches(str(got), names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return [Problem(_data_path(loc, data), f"unknown value {got!r}{hint} (valid: {', '.join(names)})")]


def _problem(error: dict, data: dict, model: type[BaseModel]) -> Problem:
    loc = tuple(error["loc"])
    path = _data_path(loc, data)
    kind, got = error["type"], error.get("input")
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        owner = _unwrap(_annotation_at(model, loc[:-1]))
        why = owner.refused(str(loc[-1])) if isinstance(owner, type) and hasattr(owner, "refused") else None
        if why:  # a key of other sections of its kind (augment: on a table): why not here
            return Problem(path, why, at_key=True)
        allowed = _allowed_keys(_annotation_at(model, loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        homes = [h for h in _homes(model, str(loc[-1])) if h != (path[:1] if len(path) > 1 else ())]
        if homes and not close:
            where = "at the top level (unindent it to line up with data: and model:)" if homes[0] == () else \
                f"under {homes[0][0]}: (indent it there)"
            hint = f"it belongs {where} "
        return Problem(path, f"unknown key '{loc[-1]}'{' here' if hint.startswith('it') else ''}; {hint}"
                             f"(valid keys{' here' if hint.startswith('it') else ''}: {', '.join(allowed)})",
                       at_key=True)
    if kind in ("model_type", "dict_type", "model_attributes_type") and got is None:
        keys = _allowed_keys(_annotation_at(model, loc))
        inner = f" ({', '.join(keys)})" if keys else ""
        return Problem(path, f"has no value: its keys{inner} go on the lines below it, indented under it")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _union_tags(_annotation_at(model, loc))
        close = difflib.get_close_matches(str(ctx.get("tag", "")), tags, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = f"unknown type '{ctx['tag']}'" if kind == "union_tag_invalid" else "missing 'type:'"
        return Problem(path, f"{what}{hint} (valid types: {', '.join(tags)})")
    if kind == "missing" and isinstance(loc[-1], int):
        return Problem(path[:-1], f"too few items: item {loc[-1]} is missing")
    if kind == "missing":
        return Problem(path, "required key is missing")
    if kind in RANGE_ERRORS and (bounds := _range_text(model, loc)):
        return Problem(path, f"out of range (got {got!r}; expected {bounds})")
    message = error["msg"].removeprefix("Value error, ")
    if kind != "value_error" and not isinstance(got, (dict, list)):
        message += f" (got {got!r})"
    return Problem(path, message)


def _homes(root: type[BaseModel], key: str) -> list[tuple]:
    """Where `key` is a valid key: () for the top level, (section,) for a section (any of its types)."""
    homes = [()] if key in root.model_fields else []
    for name, field in root.model_fields.items():
        annotation = _unwrap(field.annotation)
        members = _members(annotation) if _is_union(annotation) else [annotation]
        if any(key in _allowed_keys(member) for member in members):
            homes.append((name,))
    return homes


RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _range_text(root: type[BaseModel], loc: tuple) -> str:
    """A field's bounds as `low <= name < high`, from its pydantic constraints."""
    model = _unwrap(_annotation_at(root, loc[:-1]))
    if _is_union(model):
        model = next((m for m in _members(model) if _allowed_keys(m) and str(loc[-1]) in _allowed_keys(m)), None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or str(loc[-1]) not in model.model_fields:
        return ""
    low = high = ""
    for constraint in model.model_fields[str(loc[-1])].metadata:
        for attr, side, sign in (("ge", "low", "<="), ("gt", "low", "<"), ("le", "high", "<="), ("lt", "high", "<")):
            value = getattr(constraint, attr, None)
            if value is not None and side == "low":
                low = f"{value} {sign} "
            elif value is not None:
                high = f" {sign} {value}"
    return f"{low}{loc[-1]}{high}" if low or high else ""


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


def _annotation_at(root: type[BaseModel], loc: tuple) -> Any:
    """Follow a pydantic error location through the pipeline model's type annotations."""
    annotation: Any = root
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
    """Strip Annotated[...] and Optional[...] down to the type that matters."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif _is_union(annotation) and len(members := [m for m in typing.get_args(annotation)
                                                        if m is not type(None)]) == 1:
            annotation = members[0]
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _members(annotation: Any) -> list:
    """The alternatives of a union, nested unions (Optional[Annotated[Union]]) flattened."""
    members = []
    for member in typing.get_args(annotation):
        member = _unwrap(member)
        if member is type(None):
            continue
        members += _members(member) if _is_union(member) else [member]
    return members


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
