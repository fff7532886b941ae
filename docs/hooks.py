"""MkDocs hook: the reference pages are generated at build time, from the pydantic models and from click.

A page holding `<!-- reference: pipeline -->` gets every pipeline key (type, default, range,
description, an example from a shipped pipeline); `<!-- reference: cli -->` gets every
command's --help. Nothing is written by hand, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import annotated_types
import click
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dlpipe.cli import main
from dlpipe.language.extends import HELP as EXTENDS_HELP, KEY as EXTENDS_KEY
from dlpipe.language.pipeline import pipeline_model
from dlpipe.language.section import tags

ROOT = Path(__file__).resolve().parent.parent
REGISTRIES = {"data": "data source", "loss": "loss", "optimizer": "optimizer", "scheduler": "scheduler",
              "metrics": "metric", "model.layers": "layer"}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' hook signature
    if "<!-- reference: pipeline -->" in markdown:
        markdown = markdown.replace("<!-- reference: pipeline -->", pipeline_reference())
    if "<!-- reference: cli -->" in markdown:
        markdown = markdown.replace("<!-- reference: cli -->", cli_reference())
    return markdown


# --- the pipeline keys ------------------------------------------------------------------------------------------

def pipeline_reference() -> str:
    """Markdown: the top-level keys, then each section, then each registered type of each registry."""
    examples = _examples()
    model = pipeline_model()
    out = ["## Top level", "", *_table(model, "", examples, skip=tuple(REGISTRIES) + ("model",)),
           f"| `{EXTENDS_KEY}` | file name, or a list of them | none | | {EXTENDS_HELP} | `extends: base.yaml` |", ""]
    for name, field in model.model_fields.items():
        for section in _sections(field.annotation):
            if name in REGISTRIES or name == "model":
                continue
            out += _section(section, name, examples)
    config, shown = _model_of(model.model_fields["model"].annotation), set()
    out += _section(config, "model", examples, skip=("layers",))
    for key, kind in REGISTRIES.items():
        field = config.model_fields["layers"] if key == "model.layers" else model.model_fields[key]
        out += [f"## `{key}`: every {kind}", ""]
        for member in _members(field.annotation):
            names = ", ".join(f"`{t}`" for t in tags(member))
            prefix = key + ("." if key != "model.layers" else ".N.")
            out += [f"### {key} {names}", "", _summary(member), "",
                    *_table(member, prefix, examples, owner=tags(member)[0]), ""]
            for name, inner in member.model_fields.items():
                for section in _sections(inner.annotation):
                    if (prefix + name, section) not in shown:  # the split of every data source: once
                        shown.add((prefix + name, section))
                        out += ["#" + line if line.startswith("## ") else line
                                for line in _section(section, prefix + name, examples)]
    return "\n".join(out)


def _section(model: type[BaseModel], prefix: str, examples: dict, skip: tuple = ()) -> list[str]:
    lines = [f"## `{prefix}`", "", _summary(model), "",
             *_table(model, prefix + ".", examples, skip=skip), ""]
    for name, field in model.model_fields.items():
        for inner in _sections(field.annotation):
            if name not in skip:  # a mapping of sections (sweep.parameters) is keyed by the user's names
                named = ".NAME" if _type(field.annotation).startswith("mapping") else ""
                lines += _section(inner, f"{prefix}.{name}{named}", examples)
    return lines


def _summary(model: type[BaseModel]) -> str:
    """The first line of a config class's docstring (pydantic gives a class without one a generic text)."""
    own = model.__dict__.get("__doc__") or ""
    return own.strip().splitlines()[0] if own.strip() else ""


def _table(model: type[BaseModel], prefix: str, examples: dict, skip: tuple = (), owner: str = "") -> list[str]:
    rows = ["| key | type | default | range | what it is | example |", "|---|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip or (name == "type" and owner):
            continue
        key = field.alias or name
        found = examples.get((owner, key) if owner else (prefix + key))
        text = _flow(found) if found is not None and not isinstance(found, dict) else ""
        example = f"`{key}: {text}`" if text and len(text) <= 60 else ""  # a whole section is the section's table
        rows.append(f"| `{prefix}{key}` | {_type(field.annotation)} | {_default(field)} | {_range(field)} | "
                    f"{(field.description or '').replace('|', '/')} | {example} |")
    return rows


def _type(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_type(a) for a in args))
    if origin in (list, tuple):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a section"
    return {type(None): "null", bool: "true/false", int: "integer", float: "number", str: "text"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "its defaults"
    return f"`{_flow(value)}`"


def _range(field) -> str:
    words = {annotated_types.Gt: "> {}", annotated_types.Ge: "≥ {}", annotated_types.Lt: "< {}",
             annotated_types.Le: "≤ {}", annotated_types.MinLen: "length ≥ {}", annotated_types.MaxLen: "length ≤ {}"}
    found = []
    for item in field.metadata:
        for kind, text in words.items():
            if isinstance(item, kind):
                found.append(text.format(getattr(item, dataclasses.fields(item)[0].name)))
    return ", ".join(found)


def _flow(value) -> str:
    return yaml.safe_dump([value], default_flow_style=True, width=10**9)[1:-2].replace("|", "/")


def _sections(annotation) -> list[type[BaseModel]]:
    """The section models an annotation holds (a plain nested section, not a registry union)."""
    found = _model_of(annotation)
    return [found] if found is not None and "type" not in found.model_fields else []


def _model_of(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _members(annotation) -> list[type[BaseModel]]:
    """Every registered class of a registry's tagged union (a list of them for metrics and layers)."""
    found = []
    for arg in typing.get_args(annotation) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        else:
            found += [m for m in _members(arg) if m not in found]
    return found


def _examples() -> dict:
    """Values the shipped pipelines set: (type, key) for a registry's types, 'section.key' for the rest."""
    found: dict = {}

    def walk(value, path: str, owner: str = "") -> None:
        if isinstance(value, dict):
            kind = value.get("type") if isinstance(value.get("type"), str) else ""
            for key, inner in value.items():
                if kind and key != "type":
                    found.setdefault((kind, key), inner)
                found.setdefault(f"{path}{key}", inner)
                walk(inner, f"{path}{key}.", kind)
        elif isinstance(value, list):
            for item in value:
                walk(item, path, owner)

    for file in sorted((ROOT / "pipelines").glob("*.yaml")):
        walk(yaml.safe_load(file.read_text()), "")
    return found


# --- the commands -----------------------------------------------------------------------------------------------

def cli_reference() -> str:
    """Markdown: each command's --help as click prints it, in the order `dlpipe --help` lists them."""
    out = []

    def visit(command: click.Command, words: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(command, info_name=words[-1], parent=parent, terminal_width=100, max_content_width=100)
        out.extend([f"## `{' '.join(words)}`", "", "```text", command.get_help(ctx), "```", ""])
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                visit(command.get_command(ctx, name), [*words, name], ctx)

    visit(main, ["dlpipe"], None)
    return "\n".join(out)


if __name__ == "__main__":  # python docs/hooks.py: print both references (what the site shows)
    print(pipeline_reference())
    print(cli_reference())
