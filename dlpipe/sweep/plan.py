"""From a pipeline file and the command's flags to a checked Plan: nothing runs before every value is valid."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from dlpipe.data.sources import read_pipeline
from dlpipe.language.errors import PipelineError
from dlpipe.language.loader import check_flags
from dlpipe.language.sweep import Sweep, grid_flag
from dlpipe.model.checks import recorded_keys
from dlpipe.sweep.search import Plan, first_line, new_study_name


def make_plan(file: Path, overrides: tuple[str, ...], grids: tuple[str, ...], changes: dict, out: Path,
              storage: str | None, study: str | None, existing: bool) -> tuple[Plan, int]:
    """The plan and the pipeline's seed; PipelineError (FILE:LINE or the flag's text) for anything invalid."""
    loaded = read_pipeline(file, overrides)
    pipeline = loaded.pipeline
    base = pipeline.sweep.model_dump() if pipeline.sweep else {"parameters": {}}
    flags = {text: grid_flag(text) for text in grids}
    if flags:
        base["parameters"] = {key: parameter.model_dump(exclude_none=True) for key, parameter in flags.values()}
        base["method"] = "grid"
    if not base["parameters"]:
        raise PipelineError(f"{file}: nothing to search: add a sweep: section to the file, or --grid "
                            "key.path=value,value (e.g. --grid optimizer.lr=1.0e-3,1.0e-2)")
    base.update({k: v for k, v in changes.items() if v is not None})
    try:
        sweep = Sweep.model_validate(base)
    except ValidationError as exc:
        said = "; ".join(".".join(map(str, e["loc"])) + (": " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
                         for e in exc.errors(include_url=False))
        raise PipelineError(f"sweep options: {said}; nothing was run") from None
    # The file's own sweep section was checked as written when it was loaded; flags, and the section under
    # --set overrides, are checked here.
    problems = check_flags(loaded, sweep, {key: f"--grid {text}" for text, (key, _) in flags.items()}) \
        if flags or overrides else []
    recorded = recorded_keys(pipeline, pipeline.task)
    if sweep.metric not in recorded:
        problems.append(f"sweep metric: '{sweep.metric}' is not recorded by this pipeline (recorded: "
                        f"{', '.join(recorded)})")
    if problems:
        raise PipelineError("\n".join(problems) + f"\n{file}: {len(problems)} problem(s); nothing was run")
    if out.exists() and not out.is_dir():
        raise PipelineError(f"--out {out}: is a file; expected the folder of the run archive")
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'sweeps.db').resolve()}"
    name = study or (_newest(url, pipeline.name) if existing else new_study_name(pipeline.name))
    return Plan(loaded.path, pipeline.name, tuple(overrides), sweep, out, url, name, pipeline.training.epochs), \
        pipeline.seed


def _newest(url: str, name: str) -> str:
    """The newest study of this pipeline in the storage (for --resume and --best)."""
    import optuna

    from dlpipe.archive.files import sanitize_name
    from dlpipe.language.secrets import mask

    try:
        summaries = optuna.get_all_study_summaries(storage=url)
    except Exception as exc:  # noqa: BLE001 - a database that cannot be opened, in the user's words
        raise PipelineError(mask(f"--storage {url}: cannot open it ({type(exc).__name__}: {first_line(exc)})")) from None
    mine = [s for s in summaries if s.study_name.startswith(f"{sanitize_name(name)}-")]
    if not mine:
        raise PipelineError(f"no sweep of {name} in {url} to continue; start one without --resume")
    return max(mine, key=lambda s: (s.datetime_start or 0, s.study_name)).study_name
