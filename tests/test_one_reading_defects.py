"""Issue 35's catalogue of misreadings, one test each, as a new user met them: the same file read one way by
training and another by predict or evaluate, or a value dropped without a word. Each failed on the main before
the one reading (dlpipe/data/schema.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

PIPELINE = """\
name: {name}
seed: 0
data: {{type: table, path: {path}, target: {target}{extra}}}
model: {{layers: [{{type: linear, units: 8, activation: relu}}, {{type: linear, units: {out}}}]}}
loss: {loss}
optimizer: {{type: adam, lr: 1.0e-2}}
training: {{epochs: 5, batch_size: 16}}
metrics: [{metrics}]
"""


def train(cli, folder: Path, table: Path, target: str, extra: str = "", classes: int = 2) -> Path:
    """A run on `table` (a classifier of `classes` classes, or a regression for classes=1); its directory."""
    spec = folder / f"{table.name.split('.')[0]}.yaml"
    spec.write_text(PIPELINE.format(name=spec.stem, path=table.name, target=target, extra=extra, out=classes,
                                    loss="cross_entropy" if classes > 1 else "mse",
                                    metrics="accuracy" if classes > 1 else "r2"))
    done = cli("run", spec, "--out", folder / "out", "-q")
    assert done.exit_code == 0, done.output
    return max((folder / "out" / spec.stem).iterdir())


def lines(rows: int, cell, target=lambda i: "yes" if i % 3 else "no") -> list[str]:
    return [f"{i * 0.1:.1f},{cell(i)},{target(i)}" for i in range(rows)]


def test_a_numeric_category_with_a_blank_keeps_its_categories_for_rows_without_blanks(cli, tmp_path):
    table = tmp_path / "rooms.csv"
    table.write_text("x,rooms,price\n" + "\n".join(lines(60, lambda i: "" if i == 7 else 1 + i % 3,
                                                         lambda i: 100 * (1 + i % 3) + i)) + "\n")
    run = train(cli, tmp_path, table, "price", ", categorical: [rooms], missing: mean", classes=1)
    assert json.loads((run / "preprocessing.json").read_text())["columns"][1]["categories"] == ["1", "2", "3"]
    new = tmp_path / "new.csv"
    new.write_text("x,rooms\n1.0,1\n1.0,2\n1.0,3\n")
    done = cli("predict", run, new)
    assert done.exit_code == 0 and "category the training rows do not" not in done.stderr, done.output
    values = [float(line.split(",")[-1]) for line in done.stdout.splitlines()[1:]]
    assert len(set(values)) == 3  # rooms 1, 2 and 3 are three inputs, not one "unseen"


def test_a_category_spelled_none_or_na_is_a_category_in_training_and_in_evaluate(cli, tmp_path):
    table = tmp_path / "heating.csv"
    table.write_text("x,heating,label\n" + "\n".join(lines(60, lambda i: ("none", "NA", "gas", "null")[i % 4])) + "\n")
    run = train(cli, tmp_path, table, "label")  # missing: error: these are not empty cells
    categories = json.loads((run / "preprocessing.json").read_text())["columns"][1]["categories"]
    assert categories == ["NA", "gas", "none", "null"]
    done = cli("evaluate", run, "--data", table)
    assert done.exit_code == 0, done.output
    assert "category the training rows do not" not in done.stderr


def test_true_and_false_with_a_blank_are_read_the_same_by_predict_and_evaluate(cli, tmp_path):
    table = tmp_path / "garage.csv"
    table.write_text("x,garage,label\n" + "\n".join(lines(60, lambda i: "" if i == 5 else ("True", "False")[i % 2]))
                     + "\n")
    run = train(cli, tmp_path, table, "label", ", missing: mean")
    assert json.loads((run / "preprocessing.json").read_text())["columns"][1]["kind"] == "boolean"
    assert cli("evaluate", run, "--data", table).exit_code == 0
    done = cli("predict", run, table)
    assert done.exit_code == 0, done.output
    assert "garage.csv:7 column 'garage' -> 0." in done.stderr  # the filled blank, at its line, with its value


def test_iso_dates_are_the_same_inputs_from_csv_and_json_lines(cli, tmp_path):
    days = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(84)]
    rows = [{"x": i * 0.1, "day": days[i], "label": "yes" if i % 12 >= 6 else "no"} for i in range(84)]
    (tmp_path / "csvdays.csv").write_text("x,day,label\n" + "".join(f"{r['x']:.1f},{r['day']},{r['label']}\n"
                                                                    for r in rows))
    (tmp_path / "jsondays.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from_csv = train(cli, tmp_path, tmp_path / "csvdays.csv", "label")
    from_json = train(cli, tmp_path, tmp_path / "jsondays.jsonl", "label")
    shapes = [json.loads((run / "preprocessing.json").read_text())["sample_shape"] for run in (from_csv, from_json)]
    assert shapes == [[21], [21]]  # x, and the date as days, 7 weekdays and 12 months (not 84 one-hot days)
    assert cli("predict", from_csv, tmp_path / "jsondays.jsonl").exit_code == 0
    scored = []
    for data in ("csvdays.csv", "jsondays.jsonl"):
        assert cli("evaluate", from_csv, "--data", tmp_path / data).exit_code == 0
        scored.append(json.loads(max((from_csv / "evaluations").glob("*/metrics.json")).read_text())["metrics"])
    assert scored[0] == scored[1]


def test_evaluate_reads_a_gzip_table_as_training_does(cli, tmp_path):
    table = tmp_path / "part.csv.gz"
    with gzip.open(table, "wt") as handle:
        handle.write("x,size,label\n" + "\n".join(lines(60, lambda i: i % 5)) + "\n")
    run = train(cli, tmp_path, table, "label")
    done = cli("evaluate", run, "--data", table)
    assert done.exit_code == 0 and "not UTF-8" not in done.output, done.output


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A classifier of a small table of numbers (x, size)."""
    from click.testing import CliRunner

    from dlpipe.cli import main

    folder = tmp_path_factory.mktemp("small")
    table = folder / "small.csv"
    table.write_text("x,size,label\n" + "\n".join(lines(60, lambda i: i % 5)) + "\n")
    return train(lambda *args: CliRunner().invoke(main, [str(a) for a in args]), folder, table, "label")


def test_json_output_is_json_with_null_for_an_empty_cell(cli, tmp_path, small_run):
    run = small_run
    new = tmp_path / "new.csv"
    new.write_text("x,size,comment\n0.5,2,fine\n0.1,3,\n")
    assert cli("predict", run, new, "-o", tmp_path / "out.json").exit_code == 0
    text = (tmp_path / "out.json").read_text()
    out = json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))
    assert [row["comment"] for row in out] == ["fine", None] and [row["line"] for row in out] == [2, 3]


def test_a_blank_line_is_named_and_every_row_keeps_its_line(cli, tmp_path, small_run):
    run = small_run
    new = tmp_path / "new.csv"
    new.write_text("x,size\n0.1,1\n0.2,2\n0.3,3\n\n0.4,4\n0.5,0\n")
    done = cli("predict", run, new)
    assert done.exit_code == 0 and "new.csv: 1 blank line(s) skipped, no row there: line(s) 5" in done.stderr
    assert [line.split(",")[0] for line in done.stdout.splitlines()] == ["line", "2", "3", "4", "6", "7"]


def test_top_k_lists_k_classes(cli, tmp_path):
    table = tmp_path / "three.csv"
    table.write_text("x,size,label\n" + "\n".join(lines(90, lambda i: i % 5, lambda i: "abc"[i % 3])) + "\n")
    run = train(cli, tmp_path, table, "label", classes=3)
    header = {k: cli("predict", run, table, "--top", k).stdout.splitlines()[0].split(",") for k in ("1", "2", "3")}
    assert [sum(name == "prediction" or (name.startswith("top") and not name.endswith("probability"))
                for name in header[k]) for k in ("1", "2", "3")] == [1, 2, 3]
    more = cli("predict", run, table, "--top", "5")
    assert more.exit_code == 0 and "--top 5: the model knows 3 classes; all 3 are listed" in more.stderr


def test_a_column_of_names_is_read_as_characters_not_one_hot(cli, tmp_path):
    rng = np.random.default_rng(0)
    stems = ["an", "mar", "len", "sof", "clar", "em", "pa", "jon", "fel", "luk", "ma", "eli", "no", "be", "le"]
    names = [f"{stems[rng.integers(len(stems))]}{''.join(rng.choice(list('bdgkrst'), 3))}{'a' if i % 2 else 'o'}"
             for i in range(400)]
    table = tmp_path / "names.csv"
    table.write_text("name,gender\n" + "".join(f"{n},{'f' if n.endswith('a') else 'm'}\n" for n in names))
    refused = cli("validate", _spec(tmp_path, table, ""))
    assert refused.exit_code == 2 and "column 'name' looks like names or identifiers" in refused.stderr
    assert "tokens: chars, ngrams: [1, 3]" in refused.stderr
    written = tmp_path / "init.yaml"
    assert cli("init", "--from", table, "--target", "gender", written).exit_code == 0
    assert "tokens: chars, ngrams: [1, 3]" in written.read_text()
    done = cli("run", written, "--out", tmp_path / "out", "-q")
    assert done.exit_code == 0, done.output
    metrics = json.loads(max((tmp_path / "out").glob("*/*/metrics.json")).read_text())
    assert metrics["test"]["accuracy"] >= 0.9  # the last letter, read as a character
    one_hot = cli("run", _spec(tmp_path, table, ", categorical: [name]"), "--out", tmp_path / "hot", "-q")
    record = json.loads(max((tmp_path / "hot").glob("*/*/metrics.json")).read_text())
    assert one_hot.exit_code == 0 and record["verdict"]["kind"] == "unseen categories", record["verdict"]
    assert "of validation rows hold a value of 'name' that training never saw" in record["verdict"]["advice"]
    assert any("of validation rows" in note and "'name'" in note for note in record["data"]["notes"])
    # the advice, followed (characters, as init wrote), does far better than the one-hot run it judged
    assert metrics["test"]["accuracy"] >= record["test"]["accuracy"] + 0.2, (metrics["test"], record["test"])


def _spec(folder: Path, table: Path, extra: str) -> Path:
    spec = folder / f"names{len(extra)}.yaml"
    spec.write_text(PIPELINE.format(name=f"names{len(extra)}", path=table.name, target="gender", extra=extra, out=2,
                                    loss="cross_entropy", metrics="accuracy").replace("epochs: 5", "epochs: 30"))
    return spec


def test_dates_in_a_stated_format_are_dates_and_a_bad_one_is_named_at_its_line(cli, tmp_path):
    days = [f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024" for i in range(84)]
    table = tmp_path / "stated.csv"
    table.write_text("x,day,label\n" + "".join(f"{i * 0.1:.1f},{days[i]},{'yes' if i % 12 >= 6 else 'no'}\n"
                                                for i in range(84)))
    run = train(cli, tmp_path, table, "label", ", dates: {day: '%d/%m/%Y'}")
    column = json.loads((run / "preprocessing.json").read_text())["columns"][1]
    assert (column["kind"], column["format"]) == ("date", "%d/%m/%Y")
    assert "days since 2024-01-01 (the first)" in (run / "report.html").read_text()
    new = tmp_path / "new.csv"
    new.write_text("x,day\n0.5,15/07/2024\n0.5,2024-07-15\n")
    done = cli("predict", run, new)
    assert done.exit_code == 2 and "new.csv:3 ('2024-07-15') is not a date in the format %d/%m/%Y" \
        in done.stderr, done.output
    table.write_text(table.read_text().replace("15/07/2024", "15/7/24", 1))
    refused = cli("validate", tmp_path / "stated.yaml")
    assert refused.exit_code == 2 and "column 'day': line 44 ('15/7/24') is not a date in the format" in refused.stderr
    assert "stated.yaml:3:" in refused.stderr and "data.dates.day:" in refused.stderr  # at the key that stated it
