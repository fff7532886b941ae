"""Reading pipeline YAML safely: size and encoding checks, SafeLoader with positions, bounded aliases.

Every problem is a PipelineError naming the file (and the line and column where YAML
says), ready to print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dlpipe.language.errors import PipelineError, Problem

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000  # an alias bomb expands far beyond this


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
        check_size(path, node)
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
    return data, node, list(duplicate_keys(node))


def safe_value(where: str, text: str) -> Any:
    """A --set value read with the same limits as a file: safe tags only, aliases bounded."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    check_size(where, node)
    return yaml.SafeLoader(text).construct_document(node)


def check_size(path: Path | str, root: yaml.Node) -> None:
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


def duplicate_keys(node: yaml.Node, path: tuple = ()):
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
            yield from duplicate_keys(value, path + (name,))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from duplicate_keys(item, path + (index,))
