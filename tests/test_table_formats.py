"""`type: table` reads by extension: delimited text, JSON Lines and Parquet give the same data and the same checks,
each message naming the line (a Parquet file: the row) of the bad cell."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dlpipe.data.sources import load_data, read_pipeline
from dlpipe.language.errors import InvalidValue, PipelineError

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")  # in [dev] through the tables extra

FORMATS = ["table.csv", "table.tsv", "table.csv.gz", "table.jsonl", "table.ndjson.gz", "table.parquet"]


def frame(n: int = 60):
    """Houses: a numeric and a text feature and a price, a known function of both."""
    rng = np.random.default_rng(0)
    size = np.round(rng.uniform(40, 160, n), 1)
    town = np.array(["north", "south", "east"])[np.arange(n) % 3]
    return pd.DataFrame({"size_m2": size, "town": town, "price": np.round(size * 10 + (town == "south") * 300, 1)})


def write(folder: Path, name: str, table) -> Path:
    """The table in the format its name says."""
    path = folder / name
    if name.endswith(".parquet"):
        table.to_parquet(path)
    elif ".jsonl" in name or ".ndjson" in name:
        text = "".join(json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()}) + "\n"
                       for row in table.to_dict("records"))
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    else:
        table.to_csv(path, sep="\t" if ".tsv" in name else ",", index=False,
                     compression="gzip" if name.endswith(".gz") else None)
    return path


def pipeline(write_yaml, name: str, extra: str = "", kind: str = "table") -> Path:
    return write_yaml(f"""\
        data: {{type: {kind}, path: {name}, target: price, task: regression{extra}}}
        model: {{layers: [{{type: linear, units: 1}}]}}
        """)


def problem(path: Path) -> str:
    """What reading the pipeline's data refuses (at validation, or when every cell is read)."""
    with pytest.raises((PipelineError, InvalidValue)) as info:
        load_data(read_pipeline(path).pipeline.data, 0)
    return str(info.value)


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_gives_the_same_data_as_csv(tmp_path, write_yaml, name):
    table = frame()
    write(tmp_path, "same.csv", table)
    reference = load_data(read_pipeline(pipeline(write_yaml, "same.csv", kind="csv")).pipeline.data, 0)
    write(tmp_path, name, table)
    data = load_data(read_pipeline(pipeline(write_yaml, name)).pipeline.data, 0)
    assert data.preprocessing.input_names == ["size_m2", "town=east", "town=north", "town=south"]
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(data, part).x.numpy(), getattr(reference, part).x.numpy())
        assert np.array_equal(getattr(data, part).y.numpy(), getattr(reference, part).y.numpy())


WHERE = {"table.csv": "line {}", "table.jsonl": "line {}", "table.parquet": "row {}"}
FIRST_LINE = {"table.csv": 2, "table.jsonl": 1, "table.parquet": 1}  # where data row 0 is: after a header, or not


@pytest.mark.parametrize("name", WHERE)
def test_the_same_checks_name_the_line_or_row_in_every_format(tmp_path, write_yaml, name):
    at = lambda row: WHERE[name].format(FIRST_LINE[name] + row)  # noqa: E731
    table = frame()
    write(tmp_path, name, table)
    message = problem(write_yaml(f"data: {{type: table, path: {name}, target: prise}}\n"
                                 "model: {layers: [{type: linear, units: 1}]}\n"))
    assert "has no column 'prise'; did you mean 'price'? its columns: size_m2, town, price" in message
    text = table.astype({"size_m2": str})  # numbers as text cells (a Parquet column holds one type)
    text.loc[7, "size_m2"] = "about 80"
    write(tmp_path, name, text)
    message = problem(pipeline(write_yaml, name, ", categorical: [town]"))
    assert f"column 'size_m2' holds numbers and text: {at(7)} ('about 80')" in message
    empty = table.copy()
    empty.loc[4, "price"] = np.nan
    write(tmp_path, name, empty)
    assert f"1 empty cell(s) (or rows with too few fields): {at(4)} column 'price'" in problem(pipeline(write_yaml, name))
    if name != "table.csv":  # a CSV cell cannot hold an infinite number that pandas reads as one
        infinite = table.copy()
        infinite.loc[9, "size_m2"] = np.inf
        write(tmp_path, name, infinite)
        if name == "table.jsonl":  # json.dumps writes Infinity, which is not JSON; 1e999 is, and reads as inf
            path = tmp_path / name
            path.write_text(path.read_text().replace("Infinity", "1e999"))
        assert f"column 'size_m2' holds values that are not finite numbers: {at(9)} (inf)" in problem(
            pipeline(write_yaml, name))


@pytest.mark.parametrize("line, message", [
    ('{"size_m2": 50, "town": "north", "price": 500', "table.jsonl:3: not valid JSON (Expecting ',' delimiter"),
    ('[50, "north", 500]', "table.jsonl:3: a JSON list where an object"),
    ('{"size_m2": 50, "town": "north", "price": 500, "rooms": 2}', "table.jsonl:3: key 'rooms' is not in the first row"),
    ('{"size_m2": [50], "town": "north", "price": 500}', "table.jsonl:3: key 'size_m2' holds a JSON list"),
    ('{"size_m2": NaN, "town": "north", "price": 500}', "table.jsonl:3: not valid JSON (NaN is not JSON; write null"),
    ('{"size_m2": ' + "[" * 100_000 + "]" * 100_000 + ', "town": "north", "price": 500}',
     "table.jsonl:3: not valid JSON (lists or objects nested too deep to read)"),  # was RecursionError
])
def test_a_bad_json_line_is_refused_at_its_line(tmp_path, write_yaml, line, message):
    lines = write(tmp_path, "table.jsonl", frame()).read_text().splitlines()
    lines[2] = line
    (tmp_path / "table.jsonl").write_text("\n".join(lines) + "\n")
    found = problem(pipeline(write_yaml, "table.jsonl"))
    assert message in found and found.count("\n") < 6  # one problem, said at its place


def test_blank_lines_in_json_lines_do_not_shift_the_line_named(tmp_path, write_yaml):
    table = frame()
    table.loc[5, "price"] = np.nan
    path = write(tmp_path, "table.jsonl", table)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["", "  "] + lines[2:]) + "\n")  # rows 2.. move down two lines
    assert "line 8 column 'price'" in problem(pipeline(write_yaml, "table.jsonl"))


def test_parquet_refuses_a_nested_column_a_damaged_file_and_a_delimiter(tmp_path, write_yaml):
    nested = frame().assign(tags=[[1, 2]] * 60)
    write(tmp_path, "table.parquet", nested)
    assert "table.parquet: column 'tags' holds lists or records" in problem(pipeline(write_yaml, "table.parquet"))
    write(tmp_path, "table.parquet", frame().assign(blob=[bytes([0xFF, 0xFE, i]) for i in range(60)]))
    assert "table.parquet: column 'blob' holds binary data (bytes), not text or numbers" in problem(
        pipeline(write_yaml, "table.parquet"))  # was UnicodeDecodeError, or its repr read as words
    (tmp_path / "broken.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    assert "broken.parquet: cannot be read as Parquet" in problem(pipeline(write_yaml, "broken.parquet"))
    write(tmp_path, "table.parquet", frame())
    assert "is a parquet file, which has no delimiter; remove delimiter:" in problem(
        pipeline(write_yaml, "table.parquet", ", delimiter: ';'"))


def test_without_pyarrow_a_parquet_table_names_the_extra(cli, tmp_path, write_yaml, monkeypatch):
    write(tmp_path, "table.parquet", frame())
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    result = cli("validate", pipeline(write_yaml, "table.parquet"))
    assert result.exit_code == 2 and "needs pyarrow, which is not installed: pip install 'dlpipe[tables]'" in result.stderr


def test_a_parquet_table_trains_predicts_and_init_reads_it(cli, tmp_path, write_yaml):
    write(tmp_path, "houses.parquet", frame(300))
    result = cli("init", "--from", tmp_path / "houses.parquet", "--target", "price", tmp_path / "houses.yaml")
    assert result.exit_code == 0, result.output
    assert "type: table" in (tmp_path / "houses.yaml").read_text()
    result = cli("run", tmp_path / "houses.yaml", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(next((tmp_path / "out").glob("houses/*/metrics.json")).read_text())
    assert record["status"] == "completed" and record["test"]["r2"] > 0.9, record["test"]
    write(tmp_path, "new.jsonl", frame(5).drop(columns="price"))
    result = cli("predict", "houses", "--out", tmp_path / "out", tmp_path / "new.jsonl")
    assert result.exit_code == 0, result.output
    expected = frame(5)["price"].to_numpy()
    got = np.array([float(line.split(",")[-1]) for line in result.stdout.strip().splitlines()[1:]])
    assert np.abs(got - expected).max() < 0.2 * expected.std() + 50, (got, expected)


def test_a_json_lines_file_of_one_endless_line_is_refused_without_reading_it_whole(tmp_path, write_yaml, monkeypatch):
    from dlpipe.data import formats

    monkeypatch.setattr(formats, "MAX_LINE", 1000)
    (tmp_path / "table.jsonl").write_text('{"price": 1, "size_m2": "' + "x" * 5000 + '"}\n')
    assert "table.jsonl:1: a line of over 1,000 characters; a row of a table is never that long" in problem(
        pipeline(write_yaml, "table.jsonl"))


@pytest.mark.parametrize("name, why", [("table.json", "is a JSON document, not JSON Lines; write one object per line"),
                                       ("table.xlsx", "is a spreadsheet; export it as CSV (or Parquet)")])
def test_a_json_document_or_a_spreadsheet_is_told_what_to_do(tmp_path, write_yaml, name, why):
    (tmp_path / name).write_text('[{"price": 1, "size_m2": 2}]\n')
    assert f"{name}: {why}" in problem(pipeline(write_yaml, name))
