"""The series source (data/series.py): windows and targets, the chronological split with its gap, scaling from
the training rows, the naive forecast beside every run, El Niño beating it, predict/evaluate, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from dlpipe.data.sources import load_data
from dlpipe.language.errors import InvalidValue
from dlpipe.language.loader import load_pipeline

from conftest import ROOT


def write_series(path, values, times=None, extra: dict | None = None):
    columns = {"time": times, "value": values, **(extra or {})}
    columns = {k: v for k, v in columns.items() if v is not None}
    lines = [",".join(columns)] + [",".join(str(c[i]) for c in columns.values()) for i in range(len(values))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pipeline(tmp_path, data: dict, layers=None, epochs: int = 30, **more) -> dict:
    return {"name": "series", "seed": 0, "data": {"type": "series", **data},
            "model": {"layers": layers or [{"type": "flatten"}, {"type": "linear", "units": 16, "activation": "relu"},
                                           {"type": "linear", "units": 1}]},
            "loss": "mse", "optimizer": {"type": "adam", "lr": 1.0e-2}, "training": {"epochs": epochs},
            "metrics": ["mae", "rmse"], **more}


def loaded(tmp_path, raw: dict):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_pipeline(path).pipeline


def test_windows_targets_and_a_chronological_split_with_its_gap(tmp_path):
    csv = write_series(tmp_path / "s.csv", [float(v) for v in range(40)])
    config = loaded(tmp_path, pipeline(tmp_path, {"path": str(csv), "column": "value", "window": 3, "horizon": 2}))
    data = load_data(config.data, 0)
    mean, std = data.target_scale
    x = data.train.x.numpy() * std + mean
    y = data.train.y.numpy() * std + mean
    assert x.shape[1:] == (3, 1) and np.allclose(x[0, :, 0], [0, 1, 2], atol=1.0e-4) and math.isclose(y[0, 0], 4.0, abs_tol=1e-4)
    # 40 values, window 3, horizon 2: 36 samples; gap 1 (horizon - 1) twice leaves 34 to split 0.7/0.15/0.15
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 5, 5)
    last_train = data.train.y[-1].item() * std + mean
    first_val = data.validation.y[0].item() * std + mean
    first_test = data.test.y[0].item() * std + mean
    assert (last_train, first_val) == pytest.approx((27.0, 29.0)) and first_test == pytest.approx(35.0)
    # scaled by the rows training saw (0 .. 27), not by the whole series
    assert mean == pytest.approx(np.mean(np.arange(28))) and std == pytest.approx(np.std(np.arange(28)))
    naive = data.forecast["naive"].numpy() * std + mean
    assert np.allclose(naive[:, 0], data.test.x[:, -1, 0].numpy() * std + mean)
    assert data.forecast["times"][0] == "36"  # (no time column: row numbers)


def test_elnino_beats_its_naive_forecast_and_metrics_json_says_so(cli, tmp_path):
    result = cli("run", ROOT / "pipelines" / "elnino.yaml", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob("elnino/*/metrics.json")).read_text())
    naive, linear = record["baselines"]["naive"], record["baselines"]["linear"]
    assert record["test"]["mae"] < 0.5 * naive["mae"] and record["test"]["rmse"] < naive["rmse"]
    assert record["test"]["mae"] < linear["mae"]  # (by 3.5 %: the verdict calls linear autoregression as good)
    assert "linear autoregression" in record["verdict"]["advice"]
    assert f"baseline naive     loss {naive['loss']:.6g}  mae {naive['mae']:.6g}" in result.output
    html = next(tmp_path.glob("elnino/*/report.html")).read_text()
    assert "<th class=\"num\">naive</th>" in html and "over the test period" in html and "2002-01 to 2010-12" in html


def test_a_network_that_does_not_beat_the_naive_forecast_is_told_so(cli, tmp_path):
    """A random walk: the last value is the best forecast there is; one epoch of a network does worse."""
    steps = np.random.default_rng(3).normal(size=400).cumsum()
    csv = write_series(tmp_path / "walk.csv", [f"{v:.4f}" for v in steps])
    path = tmp_path / "walk.yaml"
    path.write_text(yaml.safe_dump(pipeline(tmp_path, {"path": str(csv), "column": "value", "window": 8},
                                            epochs=1)), encoding="utf-8")
    result = cli("run", path, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob("out/series/*/metrics.json")).read_text())
    assert record["test"]["mae"] > record["baselines"]["naive"]["mae"]
    assert record["verdict"]["kind"] == "worse than a baseline" and "does better" in record["verdict"]["advice"]


def test_a_feature_that_leads_the_series_is_used_and_recurrent_layers_read_windows(cli, tmp_path):
    """value(t) = lead(t - 1): with the lead as a feature an lstm forecasts far better than the last value."""
    rng = np.random.default_rng(0)
    lead = rng.normal(size=500)
    value = np.concatenate([[0.0], lead[:-1]]) + rng.normal(scale=0.05, size=500)
    csv = write_series(tmp_path / "lead.csv", [f"{v:.4f}" for v in value], extra={"lead": [f"{v:.4f}" for v in lead]})
    layers = [{"type": "lstm", "units": 16}, {"type": "global_pool", "mode": "last"}, {"type": "linear", "units": 1}]
    path = tmp_path / "lead.yaml"
    path.write_text(yaml.safe_dump(pipeline(tmp_path, {"path": str(csv), "column": "value", "window": 4,
                                                       "features": ["lead"]}, layers, epochs=15)), encoding="utf-8")
    result = cli("run", path, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob("out/series/*/metrics.json")).read_text())
    assert record["test"]["mae"] < 0.3 * record["baselines"]["naive"]["mae"]


@pytest.fixture(scope="module")
def elnino_run(tmp_path_factory):
    from click.testing import CliRunner

    from dlpipe.cli import main

    out = tmp_path_factory.mktemp("elnino")
    result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "elnino.yaml"), "--out", str(out), "-q",
                                       "--set", "training.epochs=5"])
    assert result.exit_code == 0, result.output
    return next(out.glob("elnino/*/model.pt")).parent


def test_predict_forecasts_after_every_window_of_a_csv_and_evaluate_scores_one(cli, tmp_path, elnino_run):
    import dlpipe

    rows = (ROOT / "pipelines" / "data" / "elnino.csv").read_text().splitlines()
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join([rows[0], *rows[-30:]]) + "\n")
    done = cli("predict", elnino_run, recent, "-o", tmp_path / "f.json")
    assert done.exit_code == 0, done.output
    forecasts = json.loads((tmp_path / "f.json").read_text())
    assert len(forecasts) == 30 - 12 + 1 and forecasts[-1]["after"] == "2010-12" and forecasts[0]["steps_ahead"] == 1
    model = dlpipe.load(elnino_run)
    values = np.array([float(r.split(",")[1]) for r in rows[-30:]])
    assert np.allclose([f["temperature"] for f in forecasts], model.predict({"temperature": values}), atol=1e-4)
    evaluated = cli("evaluate", elnino_run, "--data", recent)
    assert evaluated.exit_code == 0 and "mae" in evaluated.output, evaluated.output


@pytest.mark.parametrize("rows, message", [
    (["time,value", "2020-01,1", "2020-02,2"], "give at least 12 rows"),
    (["time,value", *[f"{2000 + i},{i}" for i in range(23)], "1999,5", "2030,1"], "row 24, column 'time': 1999 is not after"),
    (["time,value", *[f"{2000 + i},{i}" for i in range(23)], "2030,", "2031,1"], "row 24, column 'temperature'"),
    (["time,value", *[f"{2000 + i},{i}" for i in range(23)], "2030,5e38", "2031,1"],
     "row 24 (5e+38) too large: beyond the ±3.4e+38"),  # float32 made it inf: a finite but meaningless forecast
], ids=["too few rows", "time out of order", "a missing value", "beyond float32"])
def test_predict_refuses_inputs_a_forecast_cannot_come_from(cli, tmp_path, elnino_run, rows, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows).replace("value", "temperature").replace("time", "month") + "\n")
    result = cli("predict", elnino_run, bad)
    assert result.exit_code == 2 and message.replace("'time'", "'month'") in result.stderr, result.stderr


BAD = {
    "window not shorter": ({"window": 50}, None, "data.window", "holds 40 values: window 50 and horizon 1 leave 0"),
    "a split of one sample": ({"window": 33}, None, "data.window", "cuts into 5/1/1 for training/validation/test"),
    "beyond float32": ({}, {12: "1e300"}, "data.column", "line 14 (1e+300); beyond the ±3.4e+38 that the network's"),
    "text among values": ({}, {12: "abc"}, "data.column", "line 14 ('abc')"),
    "empty value": ({}, {5: ""}, "data.column", "line 7 column 'value'"),
    "time going back": ({"time": "time"}, {"time": {9: "1980-01"}}, "data.time", ":11: time '1980-01' is not after"),
    "time not a date": ({"time": "time"}, {"time": {3: "soon"}}, "data.time", ":5: time 'soon' is neither"),
    "column twice": ({"features": ["value"]}, None, "data", "named twice"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_series_input_is_refused_at_the_line(tmp_path, name):
    settings, changes, key, message = BAD[name]
    values, times = [str(float(v)) for v in range(40)], [f"{1990 + i // 12}-{i % 12 + 1:02d}" for i in range(40)]
    for row, cell in (changes or {}).items():
        if row == "time":
            times = [cell.get(i, t) for i, t in enumerate(times)]
        else:
            values[row] = cell
    csv = write_series(tmp_path / "s.csv", values, times)
    raw = pipeline(tmp_path, {"path": str(csv), "column": "value", "window": 4, **settings})
    with pytest.raises(Exception) as caught:
        load_data(loaded(tmp_path, raw).data, 0)
    text = str(caught.value)
    assert message in text, text
    if isinstance(caught.value, InvalidValue):
        assert ".".join(map(str, caught.value.path)) == key


def test_the_command_names_the_yaml_line_of_a_window_the_series_cannot_fill(cli, tmp_path):
    csv = write_series(tmp_path / "s.csv", [str(v) for v in range(30)])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline(tmp_path, {"path": str(csv), "column": "value", "window": 30}),
                                   sort_keys=False), encoding="utf-8")
    result = cli("validate", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "window: 30" in text)
    assert result.exit_code == 2 and f"p.yaml:{line}:" in result.stderr and "data.window" in result.stderr, \
        result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("times, refused", [
    ([f"2024-03-{d:02d}T00:00:00+01:00" for d in range(1, 21)] + [f"2024-04-{d:02d}T00:00:00+02:00" for d in range(1, 21)],
     None),  # a daylight-saving export: ValueError: Mixed timezones
    ([str(1_700_000_000_000_000_000 + i) for i in range(40)], None),  # nanoseconds: equal once made float64
    ([str(i) for i in range(38)] + ["inf", "inf"], ":40: time inf is neither a number nor a date"),
], ids=["changing UTC offsets", "nanosecond epoch times", "inf"])
def test_time_columns_that_broke_or_fooled_the_order_check(tmp_path, times, refused):
    csv = write_series(tmp_path / "s.csv", [str(float(v)) for v in range(40)], times)
    raw = pipeline(tmp_path, {"path": str(csv), "column": "value", "time": "time", "window": 4})
    if refused is None:
        assert len(load_data(loaded(tmp_path, raw).data, 0).train) > 0
        return
    with pytest.raises(InvalidValue) as caught:
        load_data(loaded(tmp_path, raw).data, 0)
    assert refused in str(caught.value)


def test_messages_show_cells_as_written_never_numpys_repr():
    from dlpipe.trained.errors import InputError
    from dlpipe.trained.series import check_order

    with pytest.raises(InputError) as caught:
        check_order(list(np.array([2000, 2001, 1999])), "year")  # (pandas hands numpy scalars over)
    assert str(caught.value) == "row 3, column 'year': 1999 is not after the row before (2001); give the rows in " \
                                "time order"
