"""dlpipe: a YAML file is the experiment; dlpipe trains it and archives a report.

The Python API, loaded on first use so that `import dlpipe` imports no torch:
run(FILE, set={...}, out="reports") -> Run; load(RUN) -> TrainedModel (predict,
predict_proba, torch_module, pipeline, preprocessing); validate(FILE) (raises
PipelineError with the CLI's messages). Bad inputs raise InputError; what dlpipe fills in or
leaves out of new inputs is an InputNote warning.
"""

__version__ = "0.1.0"
__all__ = ["run", "load", "validate", "PipelineError", "LoadError", "InputError", "InputNote", "__version__"]


def __getattr__(name: str):
    if name in ("run", "load", "validate"):
        from dlpipe.trained import api

        return getattr(api, name)
    if name == "PipelineError":
        from dlpipe.language.errors import PipelineError

        return PipelineError
    if name in ("LoadError", "InputError", "InputNote"):
        from dlpipe.trained import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'dlpipe' has no attribute {name!r}")
