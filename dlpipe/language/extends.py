"""`extends:`: a pipeline written on top of base files, merged as YAML nodes so every value keeps its file and line.

A base is read first and the file's own keys go on top: mappings merge key by key,
lists and scalars replace (a list of layers is never spliced), and a mapping whose
`type:` differs from the base's replaces it (an sgd optimizer takes none of adam's
keys). `extends` may be a list, applied in order. Relative data paths in a base
stay relative to the base's own folder. The run's name is never inherited: a
variant is its own run, named by its `name:` or its file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from dlpipe.language.errors import PipelineError, Problem
from dlpipe.language.files import names_a_file
from dlpipe.language.paths import not_a_file, resolved
from dlpipe.language.yamltext import check_size, compose, duplicate_keys, read_source

KEY = "extends"
HELP = ("A base pipeline file this one builds on, relative to this file (or a list of them, applied in order): "
        "mappings merge key by key, lists and scalars replace, the keys written here win.")
MAX_DEPTH = 16  # bases of bases; far beyond any sensible chain, and it bounds a runaway one
MAX_READS = 64  # files read in all: a base listed twice at each of 16 levels would otherwise mean 65,536 reads
NOT_INHERITED = ("name", KEY)


@dataclass(frozen=True)
class Composed:
    """The merged node tree, the text of every file read (name -> text, the file itself first), its problems."""

    node: yaml.MappingNode
    texts: dict[str, str]
    problems: list[Problem]


def read_composed(path: Path) -> Composed:
    """Read `path` and, recursively, the files it extends; raise PipelineError at the line of a bad `extends`."""
    composed = Composed(yaml.MappingNode("tag:yaml.org,2002:map", []), {}, [])
    node = _compose(path, (resolved(path),), composed, [0])
    check_size(path, node)
    return Composed(node, composed.texts, composed.problems)


def _compose(path: Path, chain: tuple[Path, ...], into: Composed, reads: list[int]) -> yaml.MappingNode:
    """This file's tree on top of its bases' (each already merged with its own bases); texts and problems go `into`."""
    text = read_source(path)
    node = compose(path, text)
    reads[0] += 1
    if str(path) not in into.texts:
        into.texts[str(path)] = text
        into.problems.extend(duplicate_keys(node))
    merged = None
    for entry in _entries(path, text, node):
        base = _base(path, text, node, entry, chain)
        if reads[0] >= MAX_READS:
            _raise(path, text, node, entry, f"more than {MAX_READS} files read for one pipeline; refused")
        try:
            below = _compose(base, (*chain, resolved(base)), into, reads)
        except PipelineError as exc:
            raise PipelineError(_reached(str(exc), f"    (read as a base of {path}:{entry.start_mark.line + 1})")
                                ) from None
        below = _rebased(below, base.parent, path.parent)
        merged = below if merged is None else merge(merged, below)
    own = _without(node, (KEY,))
    return own if merged is None else merge(_without(merged, NOT_INHERITED), own)


def _reached(message: str, way: str) -> str:
    """The message with the way to its file added: before a closing `N problems; nothing was run`, else at the end."""
    *lines, last = message.split("\n")
    return "\n".join([*lines, way, last] if lines and last.endswith("nothing was run") else [message, way])


def _entries(path: Path, text: str, node: yaml.MappingNode) -> list[yaml.ScalarNode]:
    """The `extends` value as a list of file-name nodes; a PipelineError at its line when it is not one."""
    value = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == KEY), None)
    if value is None:
        return []
    items = value.value if isinstance(value, yaml.SequenceNode) else [value]
    bad = next((item for item in items if not (isinstance(item, yaml.ScalarNode) and item.tag.endswith(":str")
                                               and item.value.strip())), None)
    if bad is not None or not items:
        raise _error(path, text, node, bad or value, "expected a file name, or a list of file names "
                                                     "(extends: base.yaml)")
    return items


def _base(path: Path, text: str, node: yaml.MappingNode, entry: yaml.ScalarNode, chain: tuple[Path, ...]) -> Path:
    """The base file an entry names, checked: it exists, it is no file of the chain, the chain is not too long."""
    base = path.parent / Path(entry.value).expanduser()
    why = not_a_file(base)
    if why:
        return _raise(path, text, node, entry, f"{entry.value}: {why} (looked for {resolved(base)}); "
                                               "expected a pipeline file, relative to this one")
    if resolved(base) in chain:
        names = " -> ".join(p.name for p in (*chain[chain.index(resolved(base)):], resolved(base)))
        return _raise(path, text, node, entry, f"{entry.value} is already being read ({names}): a cycle; "
                                               "a file cannot extend itself, directly or through its bases")
    if len(chain) > MAX_DEPTH:
        return _raise(path, text, node, entry, f"more than {MAX_DEPTH} levels of bases; refused")
    return base


def _error(path: Path, text: str, root: yaml.Node, at: yaml.Node, message: str) -> PipelineError:
    return PipelineError.from_problems(path, text, root, [Problem((KEY,), message, at)])


def _raise(path: Path, text: str, root: yaml.Node, at: yaml.Node, message: str) -> Path:
    raise _error(path, text, root, at, message)


def merge(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    """`over` on top of `base`: mappings merge key by key (unless their types differ); anything else replaces.

    A base written as a bare name (`loss: huber`) under a mapping without a type (`loss: {delta: 2}`)
    reads as `{type: huber, delta: 2}`.
    """
    if isinstance(base, yaml.ScalarNode) and isinstance(over, yaml.MappingNode) and _type(over) is None \
            and base.tag.endswith(":str") and base.value:
        key = yaml.ScalarNode("tag:yaml.org,2002:str", "type", base.start_mark, base.end_mark)
        return yaml.MappingNode(over.tag, [(key, base), *over.value], over.start_mark, over.end_mark,
                                over.flow_style)
    if not (isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode)):
        return over
    if None not in (_type(base), _type(over)) and _type(base) != _type(over):
        return over
    entries = {_name(k): (k, v) for k, v in base.value}
    for key, value in over.value:
        below = entries.get(_name(key))
        entries[_name(key)] = (key, merge(below[1], value) if below is not None else value)
    return yaml.MappingNode(over.tag, list(entries.values()), over.start_mark, over.end_mark, over.flow_style)


def _name(key: yaml.Node) -> object:
    return key.value if isinstance(key, yaml.ScalarNode) else id(key)


def _type(node: yaml.MappingNode) -> str | None:
    return next((v.value for k, v in node.value if _name(k) == "type" and isinstance(v, yaml.ScalarNode)), None)


def _without(node: yaml.MappingNode, keys: tuple[str, ...]) -> yaml.MappingNode:
    kept = [(k, v) for k, v in node.value if _name(k) not in keys]
    return yaml.MappingNode(node.tag, kept, node.start_mark, node.end_mark, node.flow_style)


# The mappings whose values may name a file relative to the pipeline file that wrote them, and which keys do.
PATH_KEYS = {("data",): names_a_file, ("tracking", "tensorboard"): lambda key, value: key == "dir"}


def _rebased(node: yaml.MappingNode, base_dir: Path, own_dir: Path) -> yaml.MappingNode:
    """A base from another folder with its relative paths (PATH_KEYS) made absolute: they are relative to the base."""
    if resolved(base_dir) == resolved(own_dir):
        return node
    for where, names_file in PATH_KEYS.items():
        node = _replaced(node, where, lambda mapping: _absolute(mapping, names_file, base_dir))
    return node


def _replaced(node: yaml.Node, where: tuple[str, ...], change) -> yaml.Node:
    """`node` with the mapping at `where` (when there is one) replaced by change(mapping)."""
    if not isinstance(node, yaml.MappingNode):
        return node
    if not where:
        return change(node)
    entries = [(k, _replaced(v, where[1:], change) if _name(k) == where[0] else v) for k, v in node.value]
    return yaml.MappingNode(node.tag, entries, node.start_mark, node.end_mark, node.flow_style)


def _absolute(mapping: yaml.MappingNode, names_file, base_dir: Path) -> yaml.MappingNode:
    entries = []
    for key, value in mapping.value:
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":str") and names_file(_name(key), value.value) \
                and not Path(value.value).expanduser().is_absolute():
            value = yaml.ScalarNode(value.tag, str(resolved(base_dir / Path(value.value))), value.start_mark,
                                    value.end_mark, value.style)
        entries.append((key, value))
    return yaml.MappingNode(mapping.tag, entries, mapping.start_mark, mapping.end_mark, mapping.flow_style)
