"""What `dlpipe serve` answers, without the web framework: a run's card, its input schema, and predictions.

A request's rows are read the way `dlpipe predict` reads a JSON Lines file: each row is written as one line of
a temporary file and read by read_inputs (training's own reader, the run's fitted schema, its missing: policy),
then predict_rows gives the answer (the run's threshold, the same notes). So a cell means one thing whether it
came in a file, a DataFrame or a request. Every problem is a RequestError: a status and one line, never a trace.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlpipe.archive.record import RunRecord
from dlpipe.data.formats import not_json
from dlpipe.language.errors import InvalidValue
from dlpipe.trained.errors import InputError
from dlpipe.trained.model import TrainedModel
from dlpipe.trained.predict import Inputs, plain, predict_rows, read_inputs

MAX_BYTES = 10 * 2**20  # of a request body, unless --max-bytes says
MAX_ROWS = 10_000  # rows (or samples, or images) in one request, unless --max-rows says
BATCH = 1000


class RequestError(Exception):
    """A request dlpipe cannot answer: its HTTP status and the reason, in one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_rows: int = MAX_ROWS


class Service:
    """A completed run's model, answering requests (any_status: also a run that did not complete)."""

    def __init__(self, run_dir: str | Path, limits: Limits = Limits(), any_status: bool = False):
        self.model = TrainedModel(run_dir, any_status=any_status)
        self.record = RunRecord.read(self.model.path, with_history=False)
        self.limits = limits
        if self.prep.kind in ("table", "series"):  # the reader's libraries now, not in the first request
            from dlpipe.data.table import pandas

            pandas()
            try:
                import pyarrow.json  # noqa: F401 - JSON Lines' fast reader
            except ImportError:
                pass

    @property
    def prep(self):
        return self.model.preprocessing

    def takes(self) -> str:
        """rows (a table or a series), images (files), or inputs (arrays of the sample's shape)."""
        return "rows" if self.prep.kind in ("table", "series") else "images" if self.prep.kind == "images" else "inputs"

    def schema(self) -> dict:
        """The inputs a request gives: each column's name and kind, a category's categories; the classes."""
        prep = self.prep
        columns = [{"name": c.name, "kind": c.kind, "categories": list(c.categories), "format": c.format,
                    "mean": float(f"{c.mean:.4g}") if c.kind == "numeric" else None} for c in prep.columns]
        return {"run": self.record.ref, "task": prep.task, "takes": self.takes(), "columns": columns,
                "sample_shape": list(prep.sample_shape), "classes": list(prep.classes),
                "target": prep.target or None, "threshold": prep.threshold, "positive": prep.positive,
                "window": prep.window or None, "horizon": prep.horizon or None, "time": prep.time,
                "max_rows": self.limits.max_rows, "max_bytes": self.limits.max_bytes}

    def card(self) -> dict:
        """What the page says of the run: name, task, test metrics, verdict."""
        record = self.record
        return {"ref": record.ref, "name": record.name, "task": record.task, "status": record.status,
                "description": record.description, "test": dict(record.test), "headline": record.headline,
                "verdict": record.verdict, "classes": list(record.classes)}

    def predict_json(self, body: bytes) -> dict:
        """The answer to a JSON body: {"rows": [{column: value}]} for tables and series, {"inputs": [...]} for
        arrays and images given as numbers."""
        request = _parse(body)
        if self.takes() == "rows":
            rows = request.get("rows")
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise RequestError(400, 'expected {"rows": [{"column": value, ...}, ...]}: this model takes rows '
                                        f"of {', '.join(c.name for c in self.prep.columns)}")
            return self.predict_rows(rows)
        inputs = request.get("inputs")
        if not isinstance(inputs, list):
            shape = ", ".join(map(str, self.prep.sample_shape))
            raise RequestError(400, f'expected {{"inputs": [...]}}: numbers of shape (N, {shape})' +
                               (", or the images as multipart files" if self.takes() == "images" else ""))
        try:
            data = np.asarray(inputs, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise RequestError(400, f"inputs: not an array of numbers ({exc})") from None
        self._count(len(data) if data.ndim > len(self.prep.sample_shape) or data.ndim > 1 else 1)
        return self._answer(Inputs(data, {"index": np.arange(1, len(np.atleast_1d(data)) + 1)}), [])

    def predict_text(self, text: str) -> dict:
        """A text model's answer to one message given as the raw body (text/plain)."""
        names = [c.name for c in self.prep.columns]
        if len(names) != 1 or self.prep.columns[0].kind != "text":
            raise RequestError(415, "a plain-text body is for a model whose one input is a text column; this one "
                                    f"takes {', '.join(names)}: send JSON rows")
        return self.predict_rows([{names[0]: text}])

    def predict_rows(self, rows: list[dict]) -> dict:
        """Rows as a JSON Lines file that predict reads: row i is line i, and messages name it."""
        self._count(len(rows))
        if not rows:
            raise RequestError(400, "no rows: the request holds none")
        with tempfile.TemporaryDirectory(prefix="dlpipe-serve-") as folder:
            path = rows_file(rows, Path(folder))
            notes: list[str] = []
            try:
                inputs = read_inputs(self.model, [str(path)], (), notes)
                return self._answer(inputs, notes, shown=f"{path}:")
            except (InputError, InvalidValue) as exc:
                raise RequestError(400, _named(str(exc), f"{path}:")) from None

    def predict_images(self, files: list[tuple[str, bytes]]) -> dict:
        """Uploaded image files, decoded from files as `dlpipe predict` decodes them."""
        from dlpipe.trained.inputs import decode

        if self.takes() != "images":
            raise RequestError(415, "images were sent to a model that takes " + self.takes())
        self._count(len(files))
        if not files:
            raise RequestError(400, "no image files in the request")
        with tempfile.TemporaryDirectory(prefix="dlpipe-serve-") as folder:
            paths = []
            for index, (_, data) in enumerate(files):
                paths.append(Path(folder) / f"{index:05d}")
                paths[-1].write_bytes(data)
            names = {str(p): name for p, (name, _) in zip(paths, files)}
            try:
                pixels = decode(paths)
            except InputError as exc:
                raise RequestError(400, _renamed(str(exc), names)) from None
        return self._answer(Inputs(pixels, {"file": [name for name, _ in files]}), [])

    def _count(self, rows: int) -> None:
        if rows > self.limits.max_rows:
            raise RequestError(413, f"{rows:,} rows in one request; this server takes at most "
                                    f"{self.limits.max_rows:,} (dlpipe serve --max-rows): send them in parts")

    def _answer(self, inputs: Inputs, notes: list[str], shown: str = "") -> dict:
        """{"predictions": [...], "notes": [...]}: one item per row that got a prediction, with where it came from."""
        try:
            columns, array = predict_rows(self.model, inputs, None, BATCH, notes)
        except InputError as exc:
            raise RequestError(400, _named(str(exc), shown)) from None
        origin = {"line": "row", "row": "row", "index": "row", "file": "file", "after": "after",
                  "steps_ahead": "steps_ahead"}
        kept = {origin[k]: v for k, v in columns.items() if k in origin}
        items = [{key: plain(values[i]) for key, values in kept.items()} for i in range(len(array))]
        for i, item in enumerate(items):
            if self.model.task == "classification":
                item["prediction"] = plain(columns["prediction"][i])
                item["probabilities"] = {c: round(float(p), 6) for c, p in zip(self.model.classes, array[i])}
            else:
                item["prediction"] = plain(array[i]) if np.ndim(array[i]) == 0 else [plain(v) for v in array[i]]
        return {"predictions": items, "notes": [_named(note, shown) for note in notes]}


def _parse(body: bytes) -> dict:
    """The request's JSON object; RequestError(400) naming the line and column of a syntax error."""
    try:
        request = json.loads(body.decode("utf-8"), parse_constant=not_json)
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"not valid JSON: {exc if isinstance(exc, ValueError) else 'nested too deep'}") \
            from None
    if not isinstance(request, dict):
        raise RequestError(400, f"a JSON {type(request).__name__} where an object was expected: "
                                '{"rows": [...]} or {"inputs": [...]}')
    return request


def rows_file(rows: list[dict], folder: Path) -> Path:
    """The request's rows as the JSON Lines file predict reads (row i on line i)."""
    path = folder / "request.jsonl"
    path.write_text("".join(map(_line, rows, range(1, len(rows) + 1))), encoding="utf-8")
    return path


def _line(row: dict, number: int) -> str:
    """Row `number` as a line of JSON Lines; RequestError for a number JSON cannot hold (1e400 read as inf)."""
    try:
        return json.dumps(row, allow_nan=False) + "\n"
    except ValueError:
        raise RequestError(400, f"row {number}: a number beyond the range of floating point; a cell is a finite "
                                "number, a string, true/false or null") from None


def _named(message: str, shown: str) -> str:
    """The temporary file's 'PATH:N' in a message as 'row N' (line N of it is the request's row N)."""
    return message.replace(shown, "row ") if shown else message


def _renamed(message: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        message = message.replace(path, repr(name))
    return message



def page(service: Service) -> str:
    """The page GET / gives: the run's card and a form built from its saved schema (report/templates/serve.html)."""
    from dlpipe.report.pages import render_page

    schema, size = service.schema(), int(np.prod(service.prep.sample_shape))
    numbers = size if schema["takes"] == "inputs" and len(service.prep.sample_shape) == 1 and size <= 16 else 0
    return render_page("serve.html", card=service.card(), schema=schema, numbers=numbers)
