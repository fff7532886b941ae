"""Commands that use a trained run: `dlpipe predict`, `dlpipe evaluate`, `dlpipe export`."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import complete_runs
from dlpipe.cli.common import echo
from dlpipe.cli.common import fail as _fail

OUT = click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True,
                   help="Root of the run archive, where RUN is looked up.")


class FormatChoice(click.Choice):
    """The export formats, read from the export stage's table when first needed (it imports torch: not at --help)."""

    def __init__(self):
        super().__init__([])

    @property
    def choices(self):
        from dlpipe.trained.export import FORMATS

        return tuple(FORMATS)

    @choices.setter
    def choices(self, value) -> None:
        pass  # always the table's


ANY_STATUS = click.option("--any-status", is_flag=True,
                          help="Use RUN even if it did not complete (diverged, interrupted, pruned, failed).")


def _model(run: str, out: Path, any_status: bool = False):
    """The run's TrainedModel, or exit 2 with the reason (no such run: the closest names; not completed: why)."""
    from dlpipe.trained.errors import LoadError
    from dlpipe.trained.model import TrainedModel, find

    try:
        model = TrainedModel(find(run, out), any_status=any_status)
    except LoadError as exc:
        _fail(str(exc))
    if any_status and (status := _status(model.path)) != "completed":
        echo(f"warning: {model.path} is {status}: its answers come from a model that did not finish "
                   "training", err=True)
    return model


def _status(run_dir: Path) -> str:
    from dlpipe.archive.record import RunRecord

    try:
        return RunRecord.read(run_dir, with_history=False).status
    except (OSError, ValueError):
        return "of unknown status"


@click.command(context_settings={"ignore_unknown_options": True})  # --x 0.5 -2: a negative number is a value
@click.argument("run", shell_complete=complete_runs)
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--x", "numbers", type=float, multiple=True, help="1-D input values: --x 0.5 -1.0 2.0 (or --x 0.5 --x 1.0).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (.csv, .json or .npy); default stdout.")
@click.option("--force", is_flag=True, help="Replace the -o file if it exists.")
@click.option("--top", type=click.IntRange(1, 100), help="Classes listed per row, most probable first  [default: 3]")
@click.option("--id", "id_column", metavar="COLUMN", help="A column of the table that names each row, put first in the "
              "output (default: the input's line).")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@ANY_STATUS
@OUT
def predict(run: str, inputs: tuple[str, ...], numbers: tuple[float, ...], output: Path | None, force: bool,
            top: int | None, id_column: str | None, batch_size: int, any_status: bool, out: Path) -> None:
    """Predict with RUN's model: INPUT is a CSV (- for stdin), .npy/.npz arrays, or images (files, globs, folders)."""
    from dlpipe.language.errors import InvalidValue
    from dlpipe.trained.errors import InputError
    from dlpipe.trained.predict import count, predict_rows, read_inputs, table, write

    from dlpipe.data.table import is_number

    unknown = [i for i in inputs if i.startswith("-") and i != "-" and not is_number(i)]
    if unknown:
        _fail(f"dlpipe predict: no such option: {unknown[0]} (see dlpipe predict --help)")
    model, notes = _model(run, out, any_status), []
    if numbers and all(is_number(i) for i in inputs):  # --x 0.5 1.0 2.0: the numbers after the first too
        numbers, inputs = numbers + tuple(float(i) for i in inputs), ()
    try:
        read = read_inputs(model, list(inputs), numbers, notes, id_column)
        rows, array = predict_rows(model, read, top, batch_size, notes)
        text = write(rows, array, output, force)
    except (InputError, InvalidValue) as exc:
        _fail(f"dlpipe predict {run}: {exc}")
    except OSError as exc:
        _fail(f"{output}: cannot write: {exc.strerror or exc}; nothing was left half-written", 1)
    for note in notes:
        echo(f"note: {note}", err=True)
    if text is not None:
        echo(text, nl=False)
    else:
        echo(table(rows))
        echo(f"{count(rows)} prediction(s) written to {output}")


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.option("--data", "data_file", type=click.Path(path_type=Path), help="Another file of the run's kind of data.")
@click.option("--set", "changes", multiple=True, metavar="data.KEY=VALUE", help="Change a data setting (repeatable).")
@ANY_STATUS
@OUT
def evaluate(run: str, data_file: Path | None, changes: tuple[str, ...], any_status: bool, out: Path) -> None:
    """RUN's model on its test split, or on other data; writes RUN/evaluations/<stamp>/ (the run is not changed)."""
    import yaml
    from pydantic import ValidationError

    from dlpipe.data.idx import DataUnavailable
    from dlpipe.language.errors import InvalidValue
    from dlpipe.trained.evaluation import evaluate as run_evaluation
    from dlpipe.trained.errors import InputError

    if data_file is not None and changes:
        _fail("give --data FILE or --set data.KEY=VALUE, not both")
    settings = {}
    for change in changes:
        key, sep, value = change.partition("=")
        if not sep or not key.startswith("data.") or "." in key[5:]:
            _fail(f"--set {change}: expected data.KEY=VALUE, e.g. --set data.type=fashion_mnist")
        settings[key[5:]] = yaml.safe_load(value) if value else ""
    model = _model(run, out, any_status)
    try:
        result = run_evaluation(model, data_file, settings)
    except (InputError, InvalidValue, DataUnavailable) as exc:
        _fail(f"dlpipe evaluate {run}: {exc}")
    except OSError as exc:
        _fail(f"dlpipe evaluate {run}: cannot write the evaluation: {exc.strerror or exc}; nothing was left "
              "half-written", 1)
    except ValidationError as exc:
        error = exc.errors()[0]
        parts = [str(part) for part in error["loc"]]
        key = ".".join(parts[:1] + parts[2:] if parts[:1] == ["data"] and len(parts) > 2 else parts)  # no union tag
        keys = sorted(type(model.pipeline.data).model_fields)
        hint = f" (keys of data.type {model.pipeline.data.type}: {', '.join(keys)})" if error["type"] == "extra_forbidden" \
            else ""
        _fail(f"dlpipe evaluate {run}: --set {' '.join(changes)}: {key}: {error['msg']}{hint}")
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    echo(f"{model.path.parent.name}/{model.path.name} on {result.source}:")
    for key, value in result.metrics.items():
        echo(f"  {key:<14} {value:.6g}")
    for line in result.said:  # the drop from the run's own test, and what changed in the data
        echo(f"  - {line}")
    echo(f"report: {result.path / 'report.html'}")


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.option("--format", "fmt", type=FormatChoice(), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The file (default RUN/exports/model.EXT).")
@click.option("--force", is_flag=True, help="Replace the -o file (and its .preprocessing.json) if they exist.")
@ANY_STATUS
@OUT
def export(run: str, fmt: str, output: Path | None, force: bool, any_status: bool, out: Path) -> None:
    """Export RUN's model (normalization inside) and verify it against the run's model on 100 test samples."""
    from dlpipe.trained.export import ExportError, export_run

    model = _model(run, out, any_status)
    try:
        written, beside, difference = export_run(model, fmt, output, force)
    except ExportError as exc:
        _fail(f"dlpipe export {run}: {exc}", exc.code)
    echo(f"wrote {written} ({fmt}; verified on the test samples: largest relative difference "
               f"{difference:.1e})\n  and {beside}")
