"""Reading pipeline YAML safely: size and encoding checks, SafeLoader with positions, bounded aliases.

Every problem is a PipelineError naming the file (and the line and column where YAML
says), ready to print.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from dlpipe.language.errors import PipelineError, Problem
from dlpipe.language.paths import looks_utf16, not_a_file, read_at_most

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000  # an alias bomb expands far beyond this


def read_source(path: Path) -> str:
    """The file's text, or a one-line PipelineError saying why it cannot be used.

    Stat first: only a regular file is opened (a FIFO would block, /dev/zero never ends), and at most
    MAX_FILE_BYTES + 1 bytes of it are read.
    """
    why = not_a_file(path)
    if why:
        expected = "; expected a pipeline YAML file" if why.startswith("is ") else ""
        raise PipelineError(f"{path}: {why}{expected}")
    data = read_at_most(path, MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        raise PipelineError(f"{path}: {path.stat().st_size} bytes; a pipeline file is at most {MAX_FILE_BYTES} "
                            "bytes")
    if looks_utf16(data):
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


def compose(path: Path, text: str) -> yaml.MappingNode:
    """The file's YAML node tree (SafeLoader), every mark naming `path`; the top level must be a mapping."""
    stream = io.StringIO(text)
    stream.name = str(path)  # PyYAML names each mark after its stream: a problem in a base file says which
    with _yaml_errors(path, text):
        node = yaml.compose(stream, Loader=yaml.SafeLoader)
        if node is None:
            raise PipelineError(f"{path}: holds only comments; expected a mapping with data: and model:")
        check_size(path, node)
        if not isinstance(node, yaml.MappingNode):
            got, mark = type(yaml.SafeLoader("").construct_document(node)).__name__, node.start_mark
            raise PipelineError(f"{path}:{mark.line + 1}:{mark.column + 1}: the top level is a {got}; "
                                "expected a mapping (name:, data:, model:, ...)")
    return node


def construct(node: yaml.MappingNode, texts: dict[str, str]) -> dict:
    """The plain data of a node tree composed from the files in `texts` (name -> text); only safe tags."""
    name = node.start_mark.name
    with _yaml_errors(Path(name), texts.get(name, ""), texts):
        return yaml.SafeLoader("").construct_document(node)


@contextmanager
def _yaml_errors(path: Path, text: str, texts: dict[str, str] | None = None):
    """PyYAML's exceptions as PipelineErrors at the file and line (the mark's file, for merged trees)."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None and texts and mark.name in texts:
            path, text = Path(mark.name), texts[mark.name]
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(exc.problem):
            tag = str(exc.problem).split("'")[1].replace("tag:yaml.org,2002:", "!!") if "'" in exc.problem else "?"
            raise PipelineError(f"{where}: the YAML tag {tag} is not allowed: a pipeline file holds plain "
                                "data (mappings, lists, strings, numbers, booleans), never Python objects") from None
        raise syntax_error(path, text, exc) from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise PipelineError(f"{path}: the YAML is nested too deeply to be a pipeline; refused") from None


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


def syntax_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> PipelineError:
    """A YAML syntax error in words: the line with a caret, what is wrong, and the likely fix."""
    mark = exc.problem_mark or exc.context_mark
    lines = text.splitlines()
    words, fix = explain(exc, lines)
    tail = (f"\n    fix: {fix}" if fix else "") + f"\n{path}: 1 problem; nothing was run"
    if mark is None:
        return PipelineError(f"{path}: invalid YAML: {words}{tail}")
    source = lines[mark.line] if mark.line < len(lines) else ""
    column = _indent(source) if "mapping values" in str(exc.problem) else mark.column  # the key, not its colon
    return PipelineError(f"{path}:{mark.line + 1}:{column + 1}: invalid YAML: {words}\n    {source}\n"
                         f"    {' ' * column}^{tail}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _above(lines: list[str], row: int) -> int | None:
    """The nearest line above `row` that holds something (not blank, not only a comment)."""
    return next((i for i in range(min(row, len(lines)) - 1, -1, -1)
                 if lines[i].strip() and not lines[i].lstrip().startswith("#")), None)


def explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> tuple[str, str]:
    """(what is wrong, the likely fix) for PyYAML's problem, in the words of someone reading the file."""
    problem, mark = str(exc.problem or exc.context or ""), exc.problem_mark or exc.context_mark
    row = mark.line if mark else 0
    line = lines[row] if row < len(lines) else ""
    above = _above(lines, row)
    if "\\t" in problem:  # PyYAML shows a tab as backslash-t in its message
        return f"{problem}: a tab in the indentation", "indent with spaces only (editors: convert tabs to spaces)"
    if "mapping values are not allowed here" in problem:
        if above is not None and _indent(line) > _indent(lines[above]) and not lines[above].rstrip().endswith(":"):
            return (f"this key is indented deeper than `{lines[above].strip()}` above it, which already has its "
                    "value, so it reads as part of that value",
                    f"indent it {_indent(lines[above])} spaces, like line {above + 1}")
        return ("a second `key: value` inside a value (an unquoted ': ' in a text?)",
                "quote the value ('like: this'), or put the key on a line of its own")
    if "expected <block end>" in problem:
        dash = "sequence" in problem or line.lstrip().startswith("-")
        siblings = [i for i in range(row - 1, -1, -1) if lines[i].strip() and not lines[i].lstrip().startswith("#")
                    and _indent(lines[i]) <= _indent(line) + 4]
        near = next((i for i in siblings if lines[i].lstrip().startswith("-") == dash), None)
        what = "list item (-)" if dash else "key"
        if near is not None and _indent(lines[near]) != _indent(line):
            return (f"this {what} is indented {_indent(line)} spaces, but the one on line {near + 1} is indented "
                    f"{_indent(lines[near])}: the items of one list (and the keys of one mapping) line up",
                    f"indent it {_indent(lines[near])} spaces, like line {near + 1}")
        return (f"this {what} does not line up with those above it", "line it up with the items (or keys) it "
                                                                       "belongs with")
    if "expected ',' or '}'" in problem or "expected ',' or ']'" in problem:
        start = exc.context_mark.line + 1 if exc.context_mark else row
        closer = "}" if "}" in problem else "]"
        return (f"a {{...}} or [...] opened on line {start} is not closed before this line",
                f"close it with '{closer}' at the end of line {start}" if start != row + 1 else
                f"close it with '{closer}'")
    if "could not find expected ':'" in problem:
        return ("a line that is neither `key: value` nor a list item (a missing ':' after a key, or an unclosed "
                "quote above?)", "add ':' after the key, or close the quote")
    if "found unexpected end of stream" in problem or "while scanning a quoted scalar" in str(exc.context or ""):
        start = exc.context_mark.line + 1 if exc.context_mark else row + 1
        return (f"a quote opened on line {start} is never closed", f"close the quote on line {start}")
    return problem, ""
