"""CSV tables: the shipped examples reach their targets, the task is decided and explained, preprocessing is
fitted on training rows only and travels with the model, and bad tables are refused before any run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlpipe.data import targets
from dlpipe.data.sources import load_data, read_pipeline

from conftest import ROOT

TARGETS = {"iris": ("accuracy", 0.93), "breast_cancer": ("accuracy", 0.95), "diabetes": ("r2", 0.40),
           "houses": ("r2", 0.40)}  # houses: least squares reaches 0.49 on this split, and the verdict says so


def run_cli(cli, path: Path, out: Path, *args: str) -> dict:
    result = cli("run", path, "--out", out, "-q", *args)
    assert result.exit_code == 0, result.output
    return json.loads(max(out.glob("*/*/metrics.json")).read_text())


@pytest.mark.parametrize("name", TARGETS)
def test_shipped_table_pipelines_reach_their_targets(cli, tmp_path, name):
    metric, target = TARGETS[name]
    got = run_cli(cli, ROOT / "pipelines" / f"{name}.yaml", tmp_path)
    assert got["status"] == "completed" and got["test"][metric] >= target, got["test"]
    rows = {"iris": 150, "breast_cancer": 569, "diabetes": 442, "houses": 546}[name]  # the row counts of the original data sets
    assert len((ROOT / "pipelines" / "data" / f"{name}.csv").read_text().splitlines()) == rows + 1
    if name == "iris":  # class names everywhere: the record, the confusion matrix axes, the most-confused list
        assert got["classes"] == ["setosa", "versicolor", "virginica"]
        assert "<td>versicolor</td>" in max(tmp_path.glob("iris/*/report.html")).read_text()
    assert got["data"]["task_reason"].startswith(f"target '{ {'iris': 'species', 'breast_cancer': 'diagnosis', 'diabetes': 'progression', 'houses': 'price_cad'}[name]}'")


@pytest.mark.parametrize("values, task, reason", [
    (np.array(["setosa", "virginica", "setosa"] * 10, dtype=object), "classification", "holds 2 distinct strings: classification"),
    (np.arange(100) % 4, "classification", "holds 4 distinct integers in 100 rows"),
    (np.arange(100) % 30, "regression", "holds integers with 30 distinct values"),
    (np.arange(12) % 4, "regression", "holds integers with 4 distinct values"),  # 3 rows per class: too few
    (np.linspace(0, 1, 50), "regression", "holds numbers with 50 distinct values"),
])
def test_task_auto_decides_and_says_why(values, task, reason):
    decided, why = targets.decide(values, "'t'")
    assert decided == task and reason in why and why.startswith("target 't'")


def write_table(folder: Path, rows: list[str], name: str = "table.csv") -> Path:
    path = folder / name
    path.write_text("\n".join(rows) + "\n")
    return path


def house_rows(n: int = 300, seed: int = 0) -> list[str]:
    """Prices from size and location: a numeric and a text feature, a split column, a target far from unit scale."""
    rng = np.random.default_rng(seed)
    rows = ["size_m2,location,split,price"]
    towns = {"north": 900.0, "south": 1500.0, "east": 1200.0}
    for i in range(n):
        town = list(towns)[i % 3]
        size = rng.uniform(40, 160)
        part = "test" if i % 5 == 0 else "validation" if i % 5 == 1 else "train"
        rows.append(f"{size:.1f},{town},{part},{size * towns[town] + rng.normal(0, 2000):.0f}")
    return rows


def table_pipeline(write_yaml, csv_name: str, extra: str = "", epochs: int = 200) -> Path:
    return write_yaml(f"""\
        name: houses
        seed: 3
        data: {{type: csv, path: {csv_name}, target: price, split_column: split{extra}}}
        model:
          layers:
            - {{type: linear, units: 16, activation: relu}}
            - {{type: linear, units: 1}}
        optimizer: {{type: adam, lr: 1.0e-2}}
        training: {{epochs: {epochs}, batch_size: 32}}
        metrics: [r2, mae]
        """)


def test_preprocessing_is_fitted_on_training_rows_and_categories_one_hot(tmp_path, write_yaml):
    rows = house_rows()
    rows[1] = rows[1].replace("north", "west")  # a town only in a test row (row 0 is test): all zeros, counted
    write_table(tmp_path, rows)
    loaded = read_pipeline(table_pipeline(write_yaml, "table.csv"))
    assert loaded.pipeline.data.task == "regression" and loaded.pipeline.loss.type == "mse"
    data = load_data(loaded.pipeline.data, 3)
    prep = data.preprocessing
    assert [c.name for c in prep.columns] == ["size_m2", "location"]  # the split column is not a feature
    assert prep.input_names == ["size_m2", "location=east", "location=north", "location=south"]
    train_sizes = [float(r.split(",")[0]) for i, r in enumerate(rows[1:]) if i % 5 > 1]
    assert prep.columns[0].mean == pytest.approx(np.mean(train_sizes)) and len(data.train) == len(train_sizes)
    assert data.train.x[:, 0].mean().item() == pytest.approx(0.0, abs=1e-5)
    assert data.train.x[:, 0].std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    assert data.test.x[0, 1:].abs().sum().item() == 0  # 'west': no training row has it
    assert any("of test rows hold a category the training rows do not" in note for note in data.notes)
    prices = np.array([float(r.split(",")[3]) for i, r in enumerate(rows[1:]) if i % 5 > 1])
    assert prep.target_scale == pytest.approx((prices.mean(), prices.std()))  # far from unit scale: standardized
    assert data.train.y.mean().item() == pytest.approx(0.0, abs=1e-4)


ROUND_TRIP = """
import json, sys
import pandas as pd, torch
from dlpipe.data.preprocess import Preprocessing
from dlpipe.language.pipeline import pipeline_model
from dlpipe.model.network import build_model
run, csv = sys.argv[1], sys.argv[2]
saved = torch.load(f"{run}/model.pt", weights_only=True)
prep = Preprocessing.from_json(json.load(open(f"{run}/preprocessing.json")))
assert Preprocessing.from_json(saved["preprocessing"]) == prep
pipeline = pipeline_model().model_validate(saved["pipeline"])
model, _ = build_model(pipeline.model, prep.sample_shape)
model.load_state_dict(saved["state_dict"])
frame = pd.read_csv(csv)
x, unseen = prep.table_inputs(frame)
with torch.no_grad():
    out = model.eval()(torch.from_numpy(x))
pred = prep.targets_out(out[:, 0].numpy()) if prep.task == "regression" else [prep.classes[i] for i in out.argmax(1)]
json.dump({"pred": [float(p) if prep.task == "regression" else p for p in pred], "unseen": unseen}, sys.stdout)
"""


def test_stored_preprocessing_reproduces_the_test_evaluation_in_a_fresh_process(cli, tmp_path, write_yaml):
    rows = house_rows(seed=1)
    csv = write_table(tmp_path, rows)
    got = run_cli(cli, table_pipeline(write_yaml, "table.csv", epochs=60), tmp_path / "out")
    run_dir = max((tmp_path / "out").glob("houses/*"))
    done = subprocess.run([sys.executable, "-c", ROUND_TRIP, str(run_dir), str(csv)], capture_output=True, text=True,
                          check=True)
    pred = np.array(json.loads(done.stdout)["pred"])
    test = np.array([i % 5 == 0 for i in range(len(rows) - 1)])
    true = np.array([float(r.split(",")[3]) for r in rows[1:]])[test]
    mae = np.abs(pred[test] - true).mean()
    r2 = 1 - ((pred[test] - true) ** 2).sum() / ((true - true.mean()) ** 2).sum()
    assert mae == pytest.approx(got["test"]["mae"], rel=1e-4)  # metrics in the target's own units
    assert r2 == pytest.approx(got["test"]["r2"], abs=1e-5) and r2 > 0.9
    assert got["data"]["target_scale"][1] > 1000 and "location=south" not in got["data"]["features"][0]


def test_missing_values_drop_or_mean(tmp_path, write_yaml):
    rows = house_rows(100)
    rows[7] = ",".join(["", *rows[7].split(",")[1:]])  # an empty size
    write_table(tmp_path, rows)
    dropped = load_data(read_pipeline(table_pipeline(write_yaml, "table.csv", ", missing: drop")).pipeline.data, 0)
    assert sum(map(len, (dropped.train, dropped.validation, dropped.test))) == 99
    filled = load_data(read_pipeline(table_pipeline(write_yaml, "table.csv", ", missing: mean")).pipeline.data, 0)
    assert sum(map(len, (filled.train, filled.validation, filled.test))) == 100
    assert any("filled with the training mean" in n for n in filled.notes)
    # data row 6 is the second validation row (rows i % 5 == 1): its empty size became the training mean, 0 scaled
    assert filled.validation.x[1, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert np.isfinite(filled.validation.x.numpy()).all()


def test_semicolon_delimiter_is_detected_and_split_fractions_apply(tmp_path, write_yaml):
    write_table(tmp_path, [r.replace(",", ";") for r in house_rows(200)])
    path = write_yaml("""\
        name: semi
        data: {type: csv, path: table.csv, target: price, features: [size_m2, location], split: {train: 0.5, validation: 0.25, test: 0.25}}
        model: {layers: [{type: linear, units: 1}]}
        """)
    data = load_data(read_pipeline(path).pipeline.data, 0)
    assert (len(data.train), len(data.validation), len(data.test)) == (100, 50, 50)


@pytest.mark.parametrize("rows, settings, message", [
    (["id,a,label"] + [f"user{i},{i},{'xy'[i % 2]}" for i in range(15_000)], ", categorical: [id]",
     "one-hot encoding makes 10500 input columns, 10500 of them from column 'id'; is it an ID?"),
    (["id,a,label"] + [f"user{i},{i},{'xy'[i % 2]}" for i in range(300)], "",
     "column 'id' looks like names or identifiers (300 different values in 300 rows); one-hot encoding would give "
     "most new rows a value training never saw; read it as characters with text: {columns: [id], tokens: chars"),
    (["a,split,label"] + [f"{i},{'train' if i % 3 else 'tset'},{'xy'[i % 2]}" for i in range(30)],
     ", split_column: split", "column 'split' holds ['tset']; expected train, validation or test"),
    (["a,label"] + [f"{i},{'xy'[i % 2]}" for i in range(30)], ", task: regression",
     "target 'label' holds text ('x'); a regression needs numbers"),
    (["a,label"] + [f"{i},{i * 1.5e300}" for i in range(30)], ", task: regression",  # NaN metrics, "completed"
     "line 3: target 'label' is 1.5e+300 (29 sample(s) beyond the ±3.4e+38 that 32-bit floats hold"),
    (["a,label"] + [f"{i * 1.5e300},{'xy'[i % 2]}" for i in range(30)], "",
     "column 'a' holds values too large: line 3 (1.5e+300)"),
])
def test_bad_tables_are_refused_before_any_run(cli, tmp_path, write_yaml, rows, settings, message):
    write_table(tmp_path, rows)
    path = write_yaml(f"""\
        name: bad
        data: {{type: csv, path: table.csv, target: label{settings}}}
        model: {{layers: [{{type: linear, units: 2}}]}}
        """)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert f"{path}:2:" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_table_too_big_for_memory_is_refused_with_the_estimate(cli, tmp_path, write_yaml):
    path = write_table(tmp_path, ["a,b,label"] + ["1,2,x"] * 20_000)
    with open(path, "r+b") as handle:
        handle.truncate(2 << 40)  # 2 TB, sparse: the first 64 KB say how long a row is
    pipeline = write_yaml("""\
        name: huge
        data: {type: csv, path: table.csv, target: label, task: classification}
        model: {layers: [{type: linear, units: 2}]}
        """)
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "of memory once loaded, and" in result.stderr and "is available" in result.stderr
    assert not (tmp_path / "out").exists()


def test_without_pandas_the_message_names_the_extra(cli, tmp_path, write_yaml, monkeypatch):
    write_table(tmp_path, house_rows(30))
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    result = cli("validate", table_pipeline(write_yaml, "table.csv"))
    assert result.exit_code == 2 and "needs pandas, which is not installed: pip install 'dlpipe[tables]'" in result.stderr


def test_report_shows_the_features_and_the_predicted_vs_true_plot(cli, tmp_path, write_yaml):
    write_table(tmp_path, house_rows(120))
    run_cli(cli, table_pipeline(write_yaml, "table.csv", epochs=5), tmp_path / "out")
    html = max((tmp_path / "out").glob("houses/*/report.html")).read_text()
    assert "Task decided from the data: target &#39;price&#39; holds" in html
    assert "<td>location</td><td>categorical</td>" in html and "east, north, south" in html
    assert "Predicted vs true, and residuals (test)" in html and "was standardized for training" in html
    assert "Data, true function and model prediction" not in html  # the 1-D plot is for 1-D inputs only


def test_every_unknown_feature_is_reported_at_once(cli, tmp_path, write_yaml):
    """Two typos in features: two messages, each at its own item of the list (not only the first)."""
    path = write_yaml(f"""\
        data:
          type: csv
          path: {ROOT / 'pipelines' / 'data' / 'iris.csv'}
          target: species
          features: [sepal_lenght_cm, sepal_width_cm, petal_lenght_cm]
        model: {{layers: [{{type: linear, units: 3}}]}}
        """)
    for command in ("validate", "run"):
        done = cli(command, path, *(["--out", tmp_path / "out"] if command == "run" else []))
        assert done.exit_code == 2 and "2 problems; nothing was run" in done.stderr, done.stderr
        assert f"{path}:5:" in done.stderr and "no column 'sepal_lenght_cm'; did you mean 'sepal_length_cm'?" in \
            done.stderr and "no column 'petal_lenght_cm'; did you mean 'petal_length_cm'?" in done.stderr


def test_a_resume_on_changed_data_is_refused_unless_allowed_and_keeps_the_original_provenance(cli, tmp_path,
                                                                                            write_yaml):
    """Interrupt a CSV run, shuffle its labels, resume: refused (exit 2, naming the file); allowed explicitly, it
    continues, and metrics.json keeps the checksum it started with beside the new one, the report says so."""
    import threading

    from dlpipe.archive.environment import sha256_file
    from dlpipe.archive.log import Progress
    from dlpipe.runner import run

    class StopAfter(Progress):
        def __init__(self, stop):
            super().__init__(quiet=True)
            self.stop = stop

        def start_epoch(self, epoch=0, epochs=0):
            if epoch == 4:
                self.stop.set()  # as a Ctrl-C in epoch 4 would

    write_table(tmp_path, house_rows(), "houses.csv")
    path = table_pipeline(write_yaml, "houses.csv", epochs=8)
    stop = threading.Event()
    record = run(read_pipeline(path), tmp_path / "out", StopAfter(stop), stop=stop)
    assert record.status == "interrupted" and record.history["epoch"] == [1, 2, 3]
    original = sha256_file(tmp_path / "houses.csv")
    rows = (tmp_path / "houses.csv").read_text().splitlines()
    prices = [row.rsplit(",", 1)[1] for row in rows[1:]]
    np.random.default_rng(1).shuffle(prices)
    (tmp_path / "houses.csv").write_text("\n".join([rows[0]] + [r.rsplit(",", 1)[0] + "," + p
                                                                for r, p in zip(rows[1:], prices)]) + "\n")
    refused = cli("run", "--resume", record.path)
    assert refused.exit_code == 2 and f"{tmp_path / 'houses.csv'} has changed since the run last trained on it" in \
        refused.stderr and "--allow-changed-data" in refused.stderr
    assert json.loads((record.path / "metrics.json").read_text())["status"] == "interrupted"  # left as it was
    allowed = cli("run", "--resume", record.path, "--allow-changed-data")
    assert allowed.exit_code == 0, allowed.output
    assert "continuing on it (--allow-changed-data)" in allowed.stderr
    saved = json.loads((record.path / "metrics.json").read_text())
    files = saved["environment"]["data_files"]
    assert files[str(tmp_path / "houses.csv")] == original  # the provenance the run started with
    assert saved["environment"]["data_files_at_resume"][str(tmp_path / "houses.csv")] != original
    assert "on changed data (--allow-changed-data)" in (record.path / "report.html").read_text()
    assert cli("run", "--resume", record.path, "--allow-changed-data").exit_code == 2  # completed: nothing to resume
    assert "--allow-changed-data goes with --resume" in cli("run", path, "--allow-changed-data").stderr


def test_memory_is_bounded_by_the_cgroup_and_the_rlimit_not_only_by_free_memory(cli, tmp_path, write_yaml,
                                                                                  monkeypatch):
    """A container's limit or `ulimit -v` made a capped process fail with a traceback, not the one-line refusal."""
    import resource

    from dlpipe.data import memory

    group = tmp_path / "cgroup"  # a v2 hierarchy as a container sees it: the limit on the parent of its group
    (group / "box" / "job").mkdir(parents=True)
    (group / "box" / "memory.max").write_text("200000000\n")
    (group / "box" / "memory.current").write_text("50000000\n")
    (group / "box" / "job" / "memory.max").write_text("max\n")
    (group / "box" / "job" / "memory.current").write_text("50000000\n")
    (tmp_path / "own").write_text("0::/box/job\n")
    monkeypatch.setattr(memory, "CGROUP", group)
    monkeypatch.setattr(memory, "OWN_CGROUP", tmp_path / "own")
    assert memory.limits()["the cgroup's memory limit"] == 150_000_000
    path = write_table(tmp_path, ["a,b,label"] + ["1,2,x"] * 20_000)
    with open(path, "r+b") as handle:
        handle.truncate(400_000_000)  # 400 MB (sparse): 20 x the cgroup's room once parsed
    pipeline = write_yaml("""\
        name: capped
        data: {type: csv, path: table.csv, target: label, task: classification}
        model: {layers: [{type: linear, units: 2}]}
        """)
    result = cli("validate", pipeline)
    assert result.exit_code == 2 and "0.1 GB is available (the cgroup's memory limit)" in result.stderr, result.output
    monkeypatch.setattr(memory, "OWN_CGROUP", tmp_path / "none")  # no cgroup; an address-space rlimit instead
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit", lambda which: (memory._status()["VmSize"] + 100_000_000,
                                                              resource.RLIM_INFINITY)
                        if which == resource.RLIMIT_AS else real(which))
    capped = cli("validate", pipeline)
    assert capped.exit_code == 2 and "0.1 GB is available (the RLIMIT_AS rlimit)" in capped.stderr, capped.output


def test_a_multi_member_gzip_is_measured_as_it_expands_not_by_its_last_trailer(cli, tmp_path, write_yaml, monkeypatch):
    """3 MB of gzip that expanded to 2 GB was estimated from its last member's size, and ran out of memory."""
    import gzip

    from dlpipe.data import memory

    with open(tmp_path / "table.csv.gz", "wb") as handle:
        handle.write(gzip.compress(b"a,b,label\n"))
        for _ in range(20):  # 20 members of 12 MB each; the trailer of the last one says 12 MB
            handle.write(gzip.compress(b"1,2,x\n" * 2_000_000))
    monkeypatch.setattr(memory, "limits", lambda: {"free memory": 400_000_000})
    pipeline = write_yaml("""\
        name: members
        data: {type: csv, path: table.csv.gz, target: label, task: classification}
        model: {layers: [{type: linear, units: 2}]}
        """)
    result = cli("validate", pipeline)
    assert result.exit_code == 2 and "of memory once loaded" in result.stderr and "(free memory)" in result.stderr


def test_many_numeric_columns_are_no_one_hot_problem_and_too_many_are_refused_at_once(cli, tmp_path, write_yaml,
                                                                                       monkeypatch):
    """100,000 numeric columns spent minutes in the per-column checks, then were refused as "one-hot encoding
    makes 100000 input columns, 0 of them from column 'c0'"."""
    from dlpipe.data import columns, tabular

    monkeypatch.setattr(columns, "MAX_ONEHOT", 100)  # the one-hot limit, where 150 numbers sit
    monkeypatch.setattr(tabular, "MAX_COLUMNS", 300)
    numbers = ",".join(f"c{i}" for i in range(150))
    write_table(tmp_path, [f"{numbers},label"] + [",".join(str(i * j % 7) for j in range(150)) + f",{'xy'[i % 2]}"
                                                  for i in range(40)])
    pipeline = write_yaml("""\
        name: wide
        data: {type: csv, path: table.csv, target: label}
        model: {layers: [{type: linear, units: 2}]}
        training: {epochs: 1}
        """)
    done = cli("run", pipeline, "--out", tmp_path / "out", "-q")
    assert done.exit_code == 0 and "one-hot" not in done.output, done.output
    write_table(tmp_path, [",".join(f"c{i}" for i in range(301)) + ",label"] + [",".join(["1"] * 301) + ",x"] * 10)
    refused = cli("validate", pipeline)
    assert refused.exit_code == 2 and "301 feature columns; dlpipe reads tables of up to 300" in refused.stderr
