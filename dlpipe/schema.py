"""JSON Schema of pipeline files, generated from the pydantic models."""

from __future__ import annotations

from dlpipe.config import Pipeline

SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"


def pipeline_schema() -> dict:
    """The schema editors use (yaml-language-server) to autocomplete and check pipeline files."""
    schema = Pipeline.model_json_schema()
    # loss and metrics get task-dependent defaults in a before-validator, so only these are required.
    schema["required"] = ["data", "model"]
    return {"$schema": SCHEMA_ID, "title": "dlpipe pipeline", **{k: v for k, v in schema.items() if k != "title"}}
