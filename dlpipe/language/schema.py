"""JSON Schema of pipeline files, generated from the pydantic models (and so from the registries)."""

from __future__ import annotations

from dlpipe.language import extends, layers, metrics, optim
from dlpipe.language.pipeline import pipeline_model
from dlpipe.language.section import tags

SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"


def pipeline_schema() -> dict:
    """The schema editors use (yaml-language-server) to autocomplete and check pipeline files.

    A bare name (`loss: mse`, `- relu`, `- r2`) is a shorthand for `{type: NAME}` wherever
    that type needs no other key, so the schema accepts those names as strings too.
    """
    schema = pipeline_model().model_json_schema()
    # loss and metrics get task-dependent defaults in a before-validator, so only these are required, and
    # not even these in a file that extends a base (the base may give them).
    schema.pop("required", None)
    schema["anyOf"] = [{"required": ["data", "model"]}, {"required": [extends.KEY]}]
    props = schema["properties"]
    props["loss"] = _or_bare(props["loss"], optim.LOSSES)
    props["optimizer"] = _or_bare(props["optimizer"], optim.OPTIMIZERS)
    props["scheduler"] = _or_bare(props["scheduler"], optim.SCHEDULERS)
    props["metrics"]["items"] = _or_bare(props["metrics"]["items"], metrics.METRICS)
    layer_list = schema["$defs"]["ModelConfig"]["properties"]["layers"]
    layer_list["items"] = _or_bare(layer_list["items"], layers.LAYERS)
    # extends is read (and removed) before validation, so the models never see it: the schema adds it.
    name = {"type": "string", "minLength": 1}
    props[extends.KEY] = {"description": extends.HELP, "anyOf": [name, {"type": "array", "items": name, "minItems": 1}]}
    return {"$schema": SCHEMA_ID, "title": "dlpipe pipeline", **{k: v for k, v in schema.items() if k != "title"}}


def _or_bare(node: dict, table: tuple) -> dict:
    """`node`, or one of the table's names whose config needs nothing but its type."""
    bare = [name for cls in table if all(not f.is_required() for k, f in cls.model_fields.items() if k != "type")
            for name in tags(cls)]
    meta = {k: node.pop(k) for k in ("description", "default", "title") if k in node}
    return {**meta, "anyOf": [{"type": "string", "enum": bare}, node]}
