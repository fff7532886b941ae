"""One reading of every cell: a table of every column kind, in every format, read the same way by training,
`evaluate`, `predict` and the Python API (issue 35's property test).

formats (csv, tsv, csv.gz, jsonl, jsonl.gz, parquet) x kinds (numeric; a numeric category with blanks; true/false
with blanks; categories spelled none and NA; ISO dates; short text read as characters; long text read as words;
an identifier passed through). For each format a run trains on the file; then:
- `evaluate RUN --data <its own test rows, same format>` gives the run's own test metrics;
- `predict` on the whole file reads each row into exactly the inputs training made of it, and the network's
  outputs on them are its outputs on the training tensors;
- the CSV run's model reads every other format's copy into the same inputs.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
import torch

import dlpipe
from dlpipe import InputNote
from dlpipe.data.sources import load_data, read_pipeline
from dlpipe.trained.rows import table_rows
from dlpipe.trained.tables import read_table

from one_reading_tables import FORMATS, PIPELINE, rows, write

TEXT = {"chars": "", "words": "words"}  # the two pipelines: a name read as characters, a note read as words


def pipeline(text: str) -> str:
    if text == "chars":
        return PIPELINE
    return PIPELINE.replace("[x, rooms, garage, heating, sold, name]", "[x, rooms, garage, heating, sold, note]") \
        .replace("{{columns: [name], as: tfidf, tokens: chars, ngrams: [1, 3], vocabulary: 300}}",
                 "{{columns: [note], as: bag, ngrams: [1, 2]}}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{(format, text): (run path, table file, test rows file)}, each trained on its own file."""
    folder, table = tmp_path_factory.mktemp("one_reading"), rows()
    test_rows = [row for row in table if row["split"] == "test"]
    made = {}
    for text in TEXT:
        for fmt in FORMATS:
            name = f"{text}_{fmt.replace('.', '_')}"
            path = write(folder / f"{name}.{fmt}", table)
            tests = write(folder / f"{name}_test.{fmt}", test_rows)
            spec = folder / f"{name}.yaml"
            spec.write_text(pipeline(text).format(name=name, path=path.name))
            run = dlpipe.run(spec, out=folder / "out", quiet=True)
            assert run.status == "completed", run
            made[fmt, text] = (run, path, tests)
    return made


def inputs_of(model, path) -> np.ndarray:
    read = read_table(model, [str(path)])
    return table_rows(model.preprocessing, read.frame, [], read.where).x


def sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


@pytest.mark.parametrize("text", TEXT)
@pytest.mark.parametrize("fmt", FORMATS)
def test_evaluate_on_its_own_test_rows_gives_the_runs_own_metrics(runs, cli, fmt, text):
    run, _, tests = runs[fmt, text]
    done = cli("evaluate", run.path, "--data", tests)
    assert done.exit_code == 0, done.output
    got = json.loads(max((run.path / "evaluations").glob("*/metrics.json")).read_text())["metrics"]
    for metric in ("accuracy", "f1", "loss"):
        assert got[metric] == pytest.approx(run.metrics[f"test_{metric}"], abs=1e-5), (metric, got, run.metrics)


@pytest.mark.parametrize("text", TEXT)
@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_reads_each_row_into_the_inputs_training_made(runs, fmt, text):
    run, path, _ = runs[fmt, text]
    model = dlpipe.load(run.path)
    data = load_data(read_pipeline(run.path / "pipeline.yaml").pipeline.data, 3)
    trained = torch.cat([data.train.x, data.validation.x, data.test.x]).numpy()
    read = inputs_of(model, path)
    assert read.shape == trained.shape == (360, read.shape[1])
    assert np.array_equal(sorted_rows(read), sorted_rows(trained))  # the same rows, cell for cell
    with torch.inference_mode():
        outputs = model.torch_module(torch.from_numpy(read)).numpy()
        expected = model.torch_module(torch.from_numpy(trained)).numpy()
    assert np.allclose(sorted_rows(outputs), sorted_rows(expected), atol=1e-6)
    with pytest.warns(InputNote, match="73 empty cell"):  # the API says what it filled, as predict does
        probabilities = model.predict_proba(read_table(model, [str(path)]).frame)
    assert np.allclose(probabilities, torch.softmax(torch.from_numpy(outputs), 1).numpy(), atol=1e-6)


@pytest.mark.parametrize("text", TEXT)
def test_a_csv_run_reads_every_formats_copy_into_the_same_inputs(runs, text):
    run, path, _ = runs["csv", text]
    model = dlpipe.load(run.path)
    expected = inputs_of(model, path)
    for fmt in FORMATS[1:]:
        assert np.array_equal(inputs_of(model, runs[fmt, text][1]), expected), fmt
    kinds = {c.name: c.kind for c in model.preprocessing.columns}
    assert kinds == {"x": "numeric", "rooms": "categorical", "garage": "boolean", "heating": "categorical",
                     "sold": "date", ("name" if text == "chars" else "note"): "text"}
    columns = {c.name: c for c in model.preprocessing.columns}
    assert columns["rooms"].categories == ("1", "2", "3")  # not 1.0, 2.0, 3.0 from a column with blanks
    assert columns["heating"].categories == ("NA", "gas", "heat pump", "none", "oil")  # words that are categories
    assert columns["sold"].origin == pytest.approx((np.datetime64("2024-01-01") - np.datetime64("1970-01-01"))
                                                   .astype(int), abs=3)


def test_the_predicted_rows_carry_their_line_and_the_id_column(runs, cli, tmp_path):
    run, path, _ = runs["csv", "chars"]
    done = cli("predict", run.path, path, "-o", tmp_path / "out.json")
    assert done.exit_code == 0, done.output
    out = json.loads((tmp_path / "out.json").read_text())
    assert len(out) == 360 and [row["line"] for row in out[:3]] == [2, 3, 4] and out[0]["id"] == "h00000"
    by_id = cli("predict", run.path, path, "--id", "id")
    assert by_id.exit_code == 0 and by_id.stdout.splitlines()[0].startswith("id,")
    assert by_id.stdout.splitlines()[1].startswith("h00000,")


# --- the cell itself: one meaning in every format ------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from dlpipe.data import schema, table  # noqa: E402
from dlpipe.data.preprocess import Column  # noqa: E402

from conftest import ROOT  # noqa: E402

CELLS = {  # a column's cells as a user writes them (None: empty), and the kind read in every format
    "numeric": st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6).map(lambda v: round(v, 3))),
    "boolean": st.one_of(st.none(), st.booleans()),
    "date": st.one_of(st.none(), st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 1, 1)).map(str)),
    "categorical": st.one_of(st.none(), st.sampled_from(["none", "NA", "null", "gas", "heat pump", "1", "2"])),
}


@pytest.mark.parametrize("value, canonical", [
    (1, "1"), (1.0, "1"), ("1.0", "1"), (" 1 ", "1"), (2.5, "2.5"), (True, "true"), ("TRUE", "true"),
    ("False", "false"), ("none", "none"), ("NA", "NA"), (" gas ", "gas"), (None, None), (float("nan"), None),
    ("", None), ("  ", None), (date(2024, 1, 31), "2024-01-31"),
])
def test_a_cell_has_one_canonical_text(value, canonical):
    assert schema.text(value) == canonical


@pytest.mark.parametrize("kind, cells, expected", [
    ("numeric", ["1", "NA", "", "n/a", "2.5", None], [1.0, None, None, None, 2.5, None]),
    ("boolean", ["True", "false", "NULL", "", True, 0], [1.0, 0.0, None, None, 1.0, 0.0]),
    ("date", ["1970-01-02", "none", "1970-01-01T12:00:00Z", ""], [1.0, None, 0.5, None]),
    ("categorical", ["none", "NA", "", " x "], ["none", "NA", None, "x"]),
])
def test_missing_words_are_empty_only_where_they_cannot_be_a_value(kind, cells, expected):
    got = schema.clean(Column("c", kind, missing=schema.missing_words(kind)), np.array(cells, dtype=object))
    if kind == "categorical":
        assert list(got) == expected
    else:
        assert [None if np.isnan(v) else v for v in got] == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.fixed_dictionaries({kind: st.lists(cells, min_size=3, max_size=3) for kind, cells in CELLS.items()}))
def test_every_format_gives_the_same_clean_cells(tmp_path_factory, columns):
    """Random cells of every kind, written in each format and read back: each format's cells, read through the
    schema, are the CSV's exactly."""
    rows_ = [{kind: columns[kind][i] for kind in CELLS} for i in range(3)]
    rows_.append({kind: {"numeric": 7, "boolean": True, "date": "2000-01-01", "categorical": "gas"}[kind]
                  for kind in CELLS})  # (a column of only empty cells has no type in Parquet)
    folder = tmp_path_factory.mktemp("cells")
    read = {}
    for fmt in FORMATS:
        path = write(folder / f"t.{fmt}", rows_, dates=("date",), floats=("numeric",))
        frame = table.read_file(path, table.sniff_delimiter(path, None))
        read[fmt] = {kind: schema.clean(Column(kind, kind, missing=schema.missing_words(kind)), frame[kind].to_numpy())
                     for kind in CELLS}
    for fmt in FORMATS[1:]:
        for kind in CELLS:
            a, b = read["csv"][kind], read[fmt][kind]
            same = np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f" else list(a) == list(b)
            assert same, (fmt, kind, list(a), list(b))


def test_every_kind_is_in_the_data_guide():
    guide = (ROOT / "docs" / "guide" / "data.md").read_text()
    assert all(f"\n| {kind} |" in guide for kind in schema.KINDS)
    assert all(word in guide for word in ("`NA`", "`N/A`", "`NaN`", "`null`", "`none`")) and \
        len(schema.MISSING_WORDS) == 5


def test_a_run_reads_its_table_once(tmp_path, monkeypatch):
    """Following one CSV through a run: the task, the checks and the training read one parse of it, its first bytes
    and its header once each."""
    from dlpipe.data import csvfile

    calls = {"parse": 0, "head": 0, "header": 0}

    def counted(name, function):
        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(table, "READERS", {kind: counted("parse", reader) for kind, reader in table.READERS.items()})
    monkeypatch.setattr(csvfile, "_read_head", counted("head", csvfile._read_head))
    monkeypatch.setattr(table, "_header_row", counted("header", table._header_row))
    csvfile._head.cache_clear()
    table._cached_header.cache_clear()
    path = write(tmp_path / "once.csv", rows())
    spec = tmp_path / "once.yaml"
    spec.write_text(PIPELINE.format(name="once", path=path.name))
    assert dlpipe.run(spec, out=tmp_path / "out", quiet=True).status == "completed"
    assert calls == {"parse": 1, "head": 1, "header": 1}


def test_an_exported_model_takes_true_false_as_1_0_and_a_date_as_its_days(runs):
    """The exported graph's first op standardizes raw values: a boolean's 1/0 and a date's days since 1970 too,
    not only numbers (written by hand here, not through the run's own scaling)."""
    from datetime import date as day

    from dlpipe.trained.export import deployable

    run, path, _ = runs["csv", "chars"]
    model = dlpipe.load(run.path)
    read = read_table(model, [str(path)])
    full = [i for i, row in enumerate(rows()) if row["garage"] is not None and row["rooms"] is not None][:40]
    x = table_rows(model.preprocessing, read.frame.iloc[full], [], read.where).x
    raw, names, table_rows_ = x.copy(), model.preprocessing.input_names, [rows()[i] for i in full]
    raw[:, names.index("x")] = [row["x"] for row in table_rows_]
    raw[:, names.index("garage")] = [1.0 if row["garage"] else 0.0 for row in table_rows_]
    raw[:, names.index("sold:days")] = [(day.fromisoformat(row["sold"]) - day(1970, 1, 1)).days
                                        for row in table_rows_]
    with torch.inference_mode():
        exported = deployable(model)(torch.from_numpy(raw))
        own = model.torch_module(torch.from_numpy(x)).softmax(dim=1)  # (the graph ends with a softmax)
    assert torch.allclose(exported, own, atol=1e-4), (exported - own).abs().max()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.fixed_dictionaries({kind: st.lists(cells, min_size=3, max_size=3) for kind, cells in CELLS.items()}))
def test_a_served_request_gives_the_same_clean_cells_as_a_file(tmp_path_factory, columns):
    """The rows of a `dlpipe serve` request (JSON, as a client sends them) read into the CSV file's clean cells."""
    from dlpipe.trained.service import _parse, rows_file

    rows_ = [{kind: columns[kind][i] for kind in CELLS} for i in range(3)]
    folder = tmp_path_factory.mktemp("served")
    csv_path = write(folder / "t.csv", rows_, dates=("date",), floats=("numeric",))
    body = "".join(write(folder / "t.jsonl", rows_, dates=("date",), floats=("numeric",)).read_text().splitlines(True))
    request = _parse(('{"rows": [' + ",".join(body.splitlines()) + "]}").encode())
    served = table.read_file(rows_file(request["rows"], folder), ",")
    frame = table.read_file(csv_path, ",")
    for kind in CELLS:
        column = Column(kind, kind, missing=schema.missing_words(kind))
        a, b = schema.clean(column, frame[kind].to_numpy()), schema.clean(column, served[kind].to_numpy())
        same = np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f" else list(a) == list(b)
        assert same, (kind, list(a), list(b))


@pytest.mark.parametrize("text", TEXT)
def test_the_server_answers_each_row_as_predict_and_the_api_do(runs, text):
    """Every row of the table sent to the server's code as a client's JSON: the probabilities predict gives."""
    from dlpipe.trained.predict import predict_rows, read_inputs
    from dlpipe.trained.service import Service

    run, path, _ = runs["csv", text]
    jsonl = runs["jsonl", text][1]
    rows_ = [json.loads(line) for line in jsonl.read_text().splitlines()]
    served = Service(run.path).predict_json(json.dumps({"rows": rows_}).encode())
    model, notes = dlpipe.load(run.path), []
    _, expected = predict_rows(model, read_inputs(model, [str(path)], (), notes), None, 1000, notes)
    got = np.array([[item["probabilities"][c] for c in model.classes] for item in served["predictions"]])
    assert [item["row"] for item in served["predictions"]] == list(range(1, 361))
    assert np.allclose(got, expected, atol=2e-6)  # (the answer is rounded to 6 places)
    with pytest.warns(InputNote, match="73 empty cell"):
        predicted = model.predict(read_table(model, [str(path)]).frame)
    assert [item["prediction"] for item in served["predictions"]] == list(predicted)
    said = [note for note in served["notes"] if "73 empty cell(s) filled" in note]  # the note predict gives, by row
    assert len(said) == 1 and "row 4 column 'garage' -> 0.52" in said[0], served["notes"]
