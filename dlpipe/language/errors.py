"""Problems in a pipeline, and messages that point into the YAML file.

Each message reads `FILE:LINE:COL: path.to.key: what is wrong (got X; expected Y)`,
followed by the source line and a caret, so a user fixes it without reading code.
pydantic's errors become Problems in validation.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from dlpipe.language.secrets import mask


class InvalidValue(ValueError):
    """A value that passed validation but does not work with the data or the model; `path` is its key.

    Raised by the data, model and engine stages (more validation images than exist, a
    layer that cannot take its input); the runner and the checks turn it into a
    PipelineError that points at the line, or at the --set that gave the value.
    """

    def __init__(self, path: tuple, message: str, also: tuple[InvalidValue, ...] = ()):
        super().__init__(message)
        self.path = tuple(path)
        self.also = tuple(also)  # more problems found in the same pass: every one is reported at once

    @property
    def problems(self) -> list[Problem]:
        """This problem and the others found with it, as Problems at their keys."""
        return [Problem(each.path, str(each)) for each in (self, *self.also)]


def check_each(checks) -> None:
    """Run every check (a callable that may raise InvalidValue); raise one InvalidValue carrying all they found."""
    found = []
    for check in checks:
        try:
            check()
        except InvalidValue as exc:
            found += [exc, *exc.also]
    if found:
        raise InvalidValue(found[0].path, str(found[0]), also=tuple(found[1:]))


class PipelineError(Exception):
    """An invalid pipeline or argument; str(error) is the full, printable message."""

    @classmethod
    def from_problems(cls, path: Path, text: str | dict[str, str], root: yaml.Node, problems: list, overrides=()
                      ) -> PipelineError:
        lines = [p.render(path, text, root, overrides) for p in problems]
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        return cls("\n".join(lines) + f"\n{path}: {count}; nothing was run")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a key path such as ('model', 'layers', 0, 'units')."""

    path: tuple
    message: str
    node: yaml.Node | None = None
    warning: bool = False
    at_key: bool = False  # point at the key itself (an unknown key), not at its value

    def render(self, file: Path, text: str | dict[str, str], root: yaml.Node, overrides=()) -> str:
        """FILE:LINE:COL: key: message, the source line and a caret; `text` maps file names to texts after extends."""
        dotted = ".".join(str(part) for part in self.path) or "(top level)"
        kind = "warning: " if self.warning else ""
        override = override_for(self.path, overrides)
        if override:  # (a URL's password, given on the command line or in the file, is never echoed)
            return mask(f"--set {override}: {kind}{dotted}: {self.message}")
        node = self.node or (find_node(root, self.path) if self.at_key else None) or _node_at(root, self.path)
        mark = node.start_mark
        if isinstance(text, dict):  # the value may have been written in a base file: point there
            file, text = (Path(mark.name), text[mark.name]) if mark.name in text else (file, text[str(file)])
        source = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        caret = " " * mark.column + "^"
        return mask(f"{file}:{mark.line + 1}:{mark.column + 1}: {kind}{dotted}: {self.message}\n    {source}\n    "
                    f"{caret}")


def override_for(path: tuple, overrides) -> str | None:
    """The --set that produced the value at `path`, if any (the latest wins)."""
    dotted = [str(p) for p in path]
    for override in reversed(tuple(overrides)):
        key = override.partition("=")[0].strip().split(".")
        if dotted[: len(key)] == key or key[: len(dotted)] == dotted:
            return override
    return None


def find_node(root: yaml.Node, path: tuple) -> yaml.Node | None:
    """The node at exactly `path` (the key node for a mapping entry), or None if the file lacks it."""
    node, found = root, None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not match:
                return None
            found, node = match[-1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node = node.value[part]
        else:
            return None
    return found


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
