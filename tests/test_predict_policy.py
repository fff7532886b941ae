"""Predict, evaluate and every export follow what training did with empty cells, unseen categories and
non-finite values: the run's own missing: policy, a note naming row, column and value, the same answer for
every row from the CLI, the Python API, ONNX, TorchScript and safetensors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dlpipe
from dlpipe.cli import main
from dlpipe.trained.errors import InputError, InputNote
from dlpipe.trained.export import FORMATS, deployable, export_run

DISTRICTS = {"Altstadt": 30000.0, "Nordend": 10000.0, "Bornheim": 0.0}
HEADER = "size_m2,rooms,district,age_years"
# An empty number, an empty category, an unseen category, a full row: the cases the issue names.
ROWS = [f"{HEADER}", "90,3,Nordend,", "70,2,,20", "60,2,Westend,5", "80,3,Altstadt,12"]


def house_csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    lines = [f"{HEADER},price"]
    for i in range(n):
        size, rooms, age = rng.uniform(40, 160), int(rng.integers(1, 6)), rng.uniform(0, 80)
        district = list(DISTRICTS)[i % 3]
        price = 3000 * size + 20000 * rooms + DISTRICTS[district] - 500 * age + rng.normal(0, 5000)
        lines.append(f"{size:.1f},{rooms},{district},{age:.0f},{price:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One house-price run per missing: policy (the training table itself has no empty cell)."""
    out = tmp_path_factory.mktemp("policy")
    csv = house_csv(out / "houses.csv")
    made = {}
    for policy in ("error", "mean", "drop"):
        (out / f"{policy}.yaml").write_text(f"""\
name: houses_{policy}
seed: 1
data: {{type: csv, path: {csv}, target: price, missing: {policy}}}
model: {{layers: [{{type: linear, units: 16, activation: relu}}, {{type: linear, units: 1}}]}}
optimizer: {{type: adam, lr: 1.0e-2}}
training: {{epochs: 30, batch_size: 32}}
""")
        made[policy] = dlpipe.run(out / f"{policy}.yaml", out=out, quiet=True).path
    made["out"] = out
    return made


def predict_cli(run: Path, text: str):
    return CliRunner().invoke(main, ["predict", str(run), "-"], input=text + "\n")


def encoded(prep_json: dict, rows: list[str]) -> np.ndarray:
    """Rows as the exported model takes them, built from preprocessing.json alone, as a user would: numbers as
    they are (NaN when empty), each category one-hot in input_columns' order (all zeros when empty or unseen)."""
    columns = prep_json["export"]["input"]["input_columns"]
    names = HEADER.split(",")
    x = np.zeros((len(rows), len(columns)), dtype=np.float32)
    for i, row in enumerate(rows):
        cells = dict(zip(names, row.split(",")))
        for j, column in enumerate(columns):
            name, _, category = column.partition("=")
            if category:
                x[i, j] = float(cells[name] == category)
            else:
                x[i, j] = float(cells[name]) if cells[name] else np.nan
    return x


def exported_outputs(model, run: Path, x: np.ndarray, tmp_path: Path) -> dict[str, np.ndarray]:
    """x through each export format, loaded back the way a user loads it."""
    got = {}
    for fmt, form in FORMATS.items():
        path, beside, _ = export_run(model, fmt, tmp_path / f"model{form.suffix}")
        got[fmt] = form.run(model, path.read_bytes(), torch.from_numpy(x)).reshape(-1)
        got["json"] = json.loads(beside.read_text())
    return got


def test_a_run_that_refused_empty_cells_refuses_them_in_predict_too(runs, tmp_path):
    done = predict_cli(runs["error"], f"{HEADER}\n90,3,Nordend,")
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert "1 empty cell(s) (or rows with too few fields): standard input:2 column 'age_years'; this run was trained " \
           "with missing: error" in done.stderr
    with pytest.raises(InputError, match="row 1 column 'age_years'"):
        dlpipe.load(runs["error"]).predict({"size_m2": [90], "rooms": [3], "district": ["Nordend"],
                                            "age_years": [None]})
    model = dlpipe.load(runs["error"])
    got = exported_outputs(model, runs["error"], encoded(_export_keys(model), ROWS[1:2]), tmp_path)
    assert all(np.isnan(got[fmt]).all() for fmt in FORMATS)  # the graph cannot refuse: NaN in, NaN out
    assert "NaN in, NaN out" in got["json"]["export"]["input"]["empty_cells"]


def _export_keys(model) -> dict:
    """preprocessing.json's export section, as `dlpipe export` writes it (input_columns)."""
    return {"export": {"input": {"input_columns": model.preprocessing.input_names}}}


def test_missing_mean_fills_as_training_did_and_every_route_gives_the_same_answer(runs, tmp_path):
    done = predict_cli(runs["mean"], "\n".join(ROWS))
    assert done.exit_code == 0, done.output
    assert "2 empty cell(s) filled with the training mean (a category: all zeros; missing: mean)" in done.stderr
    assert "standard input:2 column 'age_years' -> " in done.stderr
    assert "standard input:3 column 'district' -> no category" in done.stderr
    assert "column 'district': 1 cell(s) hold a category the training rows do not, encoded as all zeros: standard " \
           "input:4 'Westend'" in done.stderr
    assert [line.split(",")[0] for line in done.stdout.splitlines()] == ["line", "2", "3", "4", "5"]
    cli_values = np.array([float(line.split(",")[-1]) for line in done.stdout.splitlines()[1:]])
    model = dlpipe.load(runs["mean"])
    frame = {name: [row.split(",")[i] for row in ROWS[1:]] for i, name in enumerate(HEADER.split(","))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api_values = model.predict(frame)
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, InputNote))
    assert "row 1 column 'age_years'" in said and "row 3 'Westend'" in said
    got = exported_outputs(model, runs["mean"], encoded(_export_keys(model), ROWS[1:]), tmp_path)
    assert len(cli_values) == len(api_values) == 4 and np.allclose(cli_values, api_values, rtol=1e-5)
    for fmt in FORMATS:
        assert np.allclose(got[fmt], api_values, rtol=1e-4), (fmt, got[fmt], api_values)
    assert "becomes its training mean inside the model" in got["json"]["export"]["input"]["empty_cells"]


def test_missing_drop_leaves_the_rows_out_as_training_did(runs, tmp_path):
    done = predict_cli(runs["drop"], "\n".join(ROWS))
    assert done.exit_code == 0, done.output
    assert "2 of 4 row(s) left out for empty cells (missing: drop): standard input:2 column 'age_years', standard " \
           "input:3 column 'district'" in done.stderr
    assert len(done.stdout.splitlines()) == 1 + 2  # the header and the two full rows
    model = dlpipe.load(runs["drop"])
    frame = {name: [row.split(",")[i] for row in ROWS[1:]] for i, name in enumerate(HEADER.split(","))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = model.predict(frame)
    said = [str(w.message) for w in caught if issubclass(w.category, InputNote)]
    assert any("2 of 4 row(s) left out" in note for note in said) and any("row 3 'Westend'" in note for note in said)
    got = exported_outputs(model, runs["drop"], encoded(_export_keys(model), ROWS[1:]), tmp_path)
    for fmt in FORMATS:
        assert np.isnan(got[fmt][0]) and np.allclose(got[fmt][[2, 3]], kept, rtol=1e-4), fmt
    assert np.isfinite(got["onnx"][1])  # an empty category is zeros, not NaN: the graph answers it


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e309"])
def test_a_value_that_is_not_finite_is_refused_in_predict(runs, cell):
    done = predict_cli(runs["mean"], f"{HEADER}\n{cell},3,Nordend,10")
    assert done.exit_code == 2 and "column 'size_m2': standard input:2" in done.stderr and "not finite" in done.stderr


def test_evaluate_follows_the_policy_and_scores_the_rows_it_keeps(runs, tmp_path):
    table = tmp_path / "new.csv"
    table.write_text(f"{HEADER},price\n90,3,Nordend,,300000\n70,2,Altstadt,20,260000\n60,2,Bornheim,5,200000\n")
    refused = CliRunner().invoke(main, ["evaluate", str(runs["error"]), "--data", str(table)])
    assert refused.exit_code == 2 and "new.csv:2 column 'age_years'" in refused.stderr
    dropped = CliRunner().invoke(main, ["evaluate", str(runs["drop"]), "--data", str(table)])
    assert dropped.exit_code == 0 and "1 of 3 row(s) left out" in dropped.stderr
    metrics = json.loads(next((runs["drop"] / "evaluations").glob("*/metrics.json")).read_text())
    assert metrics["samples"] == 2 and "left out" in " ".join(metrics["notes"])


def test_an_export_of_a_mean_run_fills_nan_inside_the_graph(runs):
    model = dlpipe.load(runs["mean"])
    wrapped = deployable(model)
    x = torch.tensor(encoded(_export_keys(model), ROWS[1:2]))
    with torch.inference_mode():
        filled = wrapped(x)
    fill = {c.name: c.fill for c in model.preprocessing.columns}
    x_by_hand = x.clone()
    x_by_hand[0, model.preprocessing.input_names.index("age_years")] = fill["age_years"]
    with torch.inference_mode():
        assert torch.allclose(filled, wrapped(x_by_hand)) and torch.isfinite(filled).all()


# --- inputs of the wrong kind or shape say what the model takes (item 4) ---------------------------------------

def test_wrong_kinds_of_input_say_what_the_model_takes(runs, tmp_path):
    np.save(tmp_path / "rows.npy", np.zeros((2, 4)))
    run = str(runs["mean"])
    cases = [
        (["predict", run, str(tmp_path / "rows.npy")], "rows.npy: is a NumPy .npy array, not a table; this model "
                                                        "takes a CSV table whose header names its columns size_m2, "
                                                        "rooms, district, age_years"),
        (["predict", run, "--x", "82", "--x", "3"], "--x gives one number per sample, for a model with one input; this "
                                                    "model takes rows of its 4 column(s) size_m2, rooms, district, "
                                                    "age_years: give a CSV file"),
    ]
    for args, message in cases:
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 2 and message in done.stderr, done.output
    ragged = CliRunner().invoke(main, ["predict", run, "-"], input=f"{HEADER}\n90,3,Nordend,12\n80,2,Altstadt,10,5\n")
    assert ragged.exit_code == 2 and "standard input:3: this row has 5 fields, the header has 4" in ragged.stderr
    shifted = CliRunner().invoke(main, ["predict", run, "-"], input=f"{HEADER}\n90,3,Nordend,12,7\n80,2,Altstadt,10\n")
    assert shifted.exit_code == 2 and "standard input:2: this row has 5 fields" in shifted.stderr  # not "not a number"
    with pytest.raises(InputError, match=r"an array of shape \(1, 6\); this model takes rows of its 4 column\(s\) "
                                         r"size_m2, rooms, district, age_years.*\(6 is the width of the encoded inputs"):
        dlpipe.load(run).predict(np.array([[82.0, 3, 1, 0, 0, 68]]))
    one_row = dlpipe.load(run).predict([{"size_m2": 82, "rooms": 3, "district": "Nordend", "age_years": 10}])
    assert one_row.shape == (1,) and np.isfinite(one_row).all()


def test_negative_numbers_are_values_of_x_and_unknown_options_are_still_refused(cli, write_yaml, tmp_path):
    from conftest import TINY_SINE

    dlpipe.run(write_yaml(TINY_SINE), out=tmp_path, quiet=True)
    done = cli("predict", "tiny", "--x", "0.5", "1.5", "-2", "-0.25", "--out", tmp_path)
    assert done.exit_code == 0, done.output
    assert [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == ["0.5", "1.5", "-2.0", "-0.25"]
    typo = cli("predict", "tiny", "--x", "0.5", "--tpo", "3", "--out", tmp_path)
    assert typo.exit_code == 2 and "no such option: --tpo" in typo.stderr


# --- a run that did not complete gives no answers (item 6) -------------------------------------------------------

def test_a_run_that_did_not_complete_is_refused_and_the_completed_one_named(cli, write_yaml, tmp_path):
    from conftest import TINY_SINE

    good = dlpipe.run(write_yaml(TINY_SINE), out=tmp_path, quiet=True)
    bad = dlpipe.run(write_yaml(TINY_SINE.replace("optimizer: {type: adam, lr: 1.0e-2}",
                                                  "optimizer: {type: sgd, lr: 10}\n"
                                                  "data: {type: sine, samples: 200, x_range: [-30, 30]}")
                                .replace("data: {type: sine, samples: 200, noise: 0.0}\n", ""), "bad.yaml"),
                     out=tmp_path, quiet=True)
    assert good.status == "completed" and bad.status == "diverged"
    for command in (["predict", "tiny", "--x", "0.5"], ["evaluate", "tiny"], ["export", "tiny", "--format", "torchscript"]):
        done = cli(*command, "--out", tmp_path)
        assert done.exit_code == 2 and f"{bad.path}: the run is diverged" in done.stderr, done.output
        assert f"the newest completed run of tiny is {good.record.ref}: give that instead" in done.stderr
    with pytest.raises(dlpipe.LoadError, match="the run is diverged"):
        dlpipe.load("tiny", out=tmp_path)
    assert cli("predict", good.record.ref, "--x", "0.5", "--out", tmp_path).exit_code == 0
    anyway = cli("predict", "tiny", "--x", "0.5", "--any-status", "--out", tmp_path)
    assert f"warning: {bad.path} is diverged" in anyway.stderr


def test_nan_written_in_a_cell_is_an_empty_cell_under_the_runs_policy(runs):
    done = predict_cli(runs["error"], f"{HEADER}\n90,3,Nordend,nan")
    assert done.exit_code == 2 and "standard input:2 column 'age_years'" in done.stderr  # not a silent training mean


def test_the_export_formats_are_one_table_the_command_offers():
    from dlpipe.cli.use import FormatChoice

    assert list(FormatChoice().choices) == list(FORMATS) == ["onnx", "torchscript", "safetensors"]
    assert all(form.suffix.startswith(".") and callable(form.write) and callable(form.run) for form in FORMATS.values())
