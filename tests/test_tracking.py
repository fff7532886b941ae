"""tracking: MLflow and TensorBoard get the run, read back with their own readers; a tracker that fails is a warning."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import TINY_SINE

mlflow = pytest.importorskip("mlflow")  # [dev] installs the mlflow and tensorboard extras
pytest.importorskip("tensorboard")

EPOCHS = 5


@pytest.fixture(autouse=True)
def quiet_mlflow_env(monkeypatch):
    """MLflow's settings as a user's shell has them: none (the tracker's own defaults are restored after)."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    # The tests read stores back with mlflow.set_tracking_uri, a process-wide setting the next test must not inherit.
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)


def tracked(write_yaml, tracking: str, name: str = "pipeline.yaml") -> Path:
    return write_yaml(TINY_SINE + f"metrics: [mae, r2]\ntracking:\n{tracking}", name)


def run(cli, path: Path, out: Path, *args: str) -> tuple[dict, object]:
    result = cli("run", path, "--out", out, *args)
    assert result.exit_code == 0, result.output
    return json.loads(next(out.glob("tiny/*/metrics.json")).read_text()), result


def history(run_dir: Path) -> dict[str, list[float]]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    keys = lines[0].split(",")
    return {key: [float(line.split(",")[i]) for line in lines[1:]] for i, key in enumerate(keys)}


def test_mlflow_gets_params_every_epochs_metrics_the_test_metrics_and_the_files(cli, write_yaml, tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record, result = run(cli, tracked(write_yaml, f"  mlflow: {{uri: '{store}', experiment: curves}}\n"),
                         tmp_path / "out", "-q")
    assert record["tracking"]["mlflow"]["experiment"] == "curves"
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(experiment_names=["curves"])
    assert len(runs) == 1
    found = runs.iloc[0]
    assert found["run_id"] == record["tracking"]["mlflow"]["run_id"] and found["status"] == "FINISHED"
    assert found["params.optimizer.lr"] == "0.01" and found["params.model.layers.0.units"] == "16"
    assert found["params.training.threads"] == "null"  # as YAML writes it
    for key, value in record["test"].items():
        assert found[f"metrics.test_{key}"] == pytest.approx(value)
    client = mlflow.tracking.MlflowClient(store)
    expected = history(next((tmp_path / "out").glob("tiny/*")))
    for key in ("train_loss", "val_loss", "val_mae", "lr"):
        logged = client.get_metric_history(found["run_id"], key)
        assert [m.step for m in logged] == list(range(1, EPOCHS + 1))
        assert [m.value for m in logged] == pytest.approx(expected[key])
    files = {item.path for item in client.list_artifacts(found["run_id"])}
    assert {"report.html", "model.pt", "pipeline.yaml", "metrics.json"} <= files
    assert found["tags.dlpipe.status"] == "completed" and found["tags.dlpipe.run_dir"].startswith(str(tmp_path))
    report = (next((tmp_path / "out").glob("tiny/*")) / "report.html").read_text()
    assert "<dt>tracked in mlflow</dt>" in report and found["run_id"] in report  # the report says where else it is


def test_mlflow_tracking_uri_is_honoured_and_the_experiment_defaults_to_the_pipeline_name(cli, write_yaml, tmp_path,
                                                                                         monkeypatch):
    store = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    record, _ = run(cli, tracked(write_yaml, "  mlflow: {}\n"), tmp_path / "out", "-q")
    assert record["tracking"]["mlflow"]["uri"] == store
    mlflow.set_tracking_uri(store)
    assert len(mlflow.search_runs(experiment_names=["tiny"])) == 1


def test_tensorboard_gets_every_epochs_scalars_and_the_hyperparameters(cli, write_yaml, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    record, _ = run(cli, tracked(write_yaml, "  tensorboard: {dir: logs}\n"), tmp_path / "out", "-q")
    folder = Path(record["tracking"]["tensorboard"]["dir"])
    assert folder.parent == tmp_path / "logs" / "tiny"  # relative to the pipeline file; a folder per run
    events = EventAccumulator(str(folder))
    events.Reload()
    expected = history(next((tmp_path / "out").glob("tiny/*")))
    for tag, key in (("loss/train", "train_loss"), ("loss/validation", "val_loss"), ("r2/validation", "val_r2")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == list(range(1, EPOCHS + 1))
        assert [s.value for s in scalars] == pytest.approx(expected[key], rel=1e-6)
    assert events.Scalars("test/r2")[0].value == pytest.approx(record["test"]["r2"], rel=1e-6)
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["optimizer.lr"].number_value == pytest.approx(0.01)
    assert start.hparams["optimizer.type"].string_value == "adam"


def test_an_unreachable_server_is_a_warning_and_its_password_is_never_stored(cli, write_yaml, tmp_path):
    url = "http://dlpipe:s3cret@127.0.0.1:9/"  # port 9 (discard): nothing listens; refused at once
    record, result = run(cli, tracked(write_yaml, f"  mlflow: {{uri: '{url}'}}\n"), tmp_path / "out", "-q")
    assert record["status"] == "completed" and record["test"]["r2"] is not None
    assert "warning: tracking to mlflow stopped (" in result.stderr and "the run goes on" in result.stderr  # -q too
    run_dir = next((tmp_path / "out").glob("tiny/*"))
    for name in ("pipeline.yaml", "metrics.json", "run.log", "report.html"):
        assert "s3cret" not in (run_dir / name).read_text(), name
    assert "uri: 'http://dlpipe:***@127.0.0.1:9/'" in (run_dir / "pipeline.yaml").read_text()
    assert "s3cret" not in result.output and "s3cret" not in result.stderr
    assert "warning: tracking to mlflow stopped" in (run_dir / "run.log").read_text()


def test_without_the_extra_the_warning_names_it_and_the_run_goes_on(cli, write_yaml, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now raises ImportError
    record, result = run(cli, tracked(write_yaml, "  tensorboard: {dir: logs}\n"), tmp_path / "out")
    assert record["status"] == "completed"
    assert "tracking: tensorboard needs tensorboard, which is not installed: pip install 'dlpipe[tensorboard]'" \
           in result.output
    assert not (tmp_path / "logs").exists()


def test_a_sweeps_trials_are_runs_nested_under_one_run_for_the_sweep(cli, write_yaml, tmp_path):
    store = f"sqlite:///{tmp_path / 'sweep.db'}"
    path = tracked(write_yaml, f"  mlflow: {{uri: '{store}', experiment: lr}}\n")
    result = cli("sweep", path, "--grid", "optimizer.lr=1.0e-3,1.0e-2", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(experiment_names=["lr"])
    parents = runs[runs["tags.dlpipe.sweep"].notna()]
    trials = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and len(trials) == 2
    assert set(trials["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert sorted(trials["params.optimizer.lr"]) == ["0.001", "0.01"]


def test_a_run_without_tracking_imports_neither_mlflow_nor_tensorboard(tmp_path, write_yaml):
    import subprocess

    code = ("import sys, dlpipe; r = dlpipe.run(sys.argv[1], out=sys.argv[2], quiet=True); "
            "print(r.status, sorted(m for m in ('mlflow', 'tensorboard') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(write_yaml(TINY_SINE)), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "completed []", done.stderr[-2000:]


def test_a_resumed_run_goes_on_in_the_same_mlflow_run_and_tensorboard_folder(cli, write_yaml, tmp_path):
    import threading

    from dlpipe.archive.log import Progress
    from dlpipe.data.sources import read_pipeline
    from dlpipe.runner import run as run_pipeline
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store = f"sqlite:///{tmp_path / 'resume.db'}"
    path = tracked(write_yaml, f"  mlflow: {{uri: '{store}', experiment: resumed}}\n  tensorboard: {{dir: logs}}\n")
    stop = threading.Event()
    stopped = run_pipeline(read_pipeline(path, ("training.epochs=6",)), tmp_path / "out", Progress(quiet=True),
                           stop=stop, callbacks=(lambda state: stop.set() if state.epoch == 2 else None,))
    assert stopped.status == "interrupted"
    first = json.loads((stopped.path / "metrics.json").read_text())["tracking"]
    result = cli("run", "--resume", stopped.path, "-q")
    assert result.exit_code == 0, result.output
    record = json.loads((stopped.path / "metrics.json").read_text())
    assert record["status"] == "completed" and record["tracking"]["mlflow"]["run_id"] == first["mlflow"]["run_id"]
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(experiment_names=["resumed"])
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"  # one run, reopened and finished
    logged = mlflow.tracking.MlflowClient(store).get_metric_history(first["mlflow"]["run_id"], "val_loss")
    assert sorted(m.step for m in logged) == [1, 2, 3, 4, 5, 6]  # each epoch once
    events = EventAccumulator(first["tensorboard"]["dir"])
    events.Reload()
    assert [s.step for s in events.Scalars("loss/validation")] == [1, 2, 3, 4, 5, 6]  # the first try's hidden


def test_without_a_uri_or_the_variable_the_store_is_mlflows_default_in_the_current_folder(cli, write_yaml, tmp_path,
                                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    record, _ = run(cli, tracked(write_yaml, "  mlflow: {experiment: here}\n"), tmp_path / "out", "-q")
    assert (tmp_path / "mlflow.db").is_file() and record["tracking"]["mlflow"]["uri"].endswith("mlflow.db")
    assert any((tmp_path / "mlartifacts").rglob("report.html"))  # beside the store, not in some ./mlruns


def test_the_quick_http_settings_hold_only_during_mlflows_calls(monkeypatch):
    import os

    from dlpipe.tracking.mlflow_log import QUICK, _Quick

    class Client:
        tracking_uri = "http://example"

        def ping(self):
            return {key: os.environ.get(key) for key in QUICK}

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")  # the user's own setting is kept
    seen = _Quick(Client()).ping()
    assert seen == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "99"}
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
    assert _Quick(Client()).tracking_uri == "http://example"


def test_a_password_given_with_set_is_in_no_file_of_the_run_and_in_no_message(cli, write_yaml, tmp_path):
    import dlpipe

    password = "pa@ss/W:0rd%40x"  # an "@", a "/", a ":" and an encoded "@" in it
    url = f"http://bob:{password}@127.0.0.1:9"  # nothing listens: the tracker is dropped with a warning
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path / "out", "-q",
                 "--set", f'tracking={{mlflow: {{uri: "{url}"}}}}')
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").glob("tiny/*"))
    secret = password.encode()
    for path in run_dir.rglob("*"):  # model.pt too: torch's zip stores the pickled pipeline's strings as they are
        assert path.is_dir() or secret not in path.read_bytes(), path.name
    assert password not in result.output + result.stderr
    assert dlpipe.load(run_dir).pipeline.tracking.mlflow.uri == "http://bob:***@127.0.0.1:9"
    refused = cli("validate", write_yaml(TINY_SINE), "--set", f'tracking={{mlflow: {{uri: "{url}", port: 1}}}}')
    assert refused.exit_code == 2 and "http://bob:***@127.0.0.1:9" in refused.stderr
    assert password not in refused.stderr


def test_a_tensorboard_folder_on_a_full_disk_is_one_warning_not_a_threads_traceback(cli, write_yaml, small_disk):
    from conftest import fill

    fill(small_disk, 8_000)  # room for the event file's header, not for 30 epochs of scalars
    path = write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 30") + f"tracking: {{tensorboard: {{dir: {small_disk / 'tb'}}}}}\n")
    result = cli("run", path, "--out", small_disk.parent / "out", "-q")
    assert result.exit_code == 0, result.output
    assert "warning: tracking to tensorboard stopped ([Errno 28] No space left on device)" in result.stderr
    assert "Traceback" not in result.output + result.stderr and "Exception in thread" not in result.stderr
    run_dir = next((small_disk.parent / "out").glob("tiny/*"))
    assert "OSError: [Errno 28]" in (run_dir / "run.log").read_text()  # the traceback, where it belongs


def test_an_mlflow_store_that_is_a_folder_or_a_fifo_is_one_warning_at_once(cli, write_yaml, tmp_path):
    """MLflow retried such a store for about 100 s before training began, and a signal waited for it."""
    import os

    os.mkfifo(tmp_path / "fifo.db")
    for store, said in ((tmp_path, "is a directory"), (tmp_path / "fifo.db", "is a FIFO")):
        record, result = run(cli, tracked(write_yaml, f"  mlflow: {{uri: 'sqlite:///{store}'}}\n"), tmp_path / "out",
                             "-q")
        assert record["status"] == "completed" and "warning: tracking to mlflow stopped (sqlite:///" in result.stderr
        assert said in result.stderr and "name a database file" in result.stderr


def test_a_tracker_that_never_answers_is_given_up_once_the_run_is_stopped():
    """A loopback server that accepts but never answers delayed Ctrl-C by its 8-10 s timeout."""
    import threading

    from dlpipe.archive.log import Progress
    from dlpipe.tracking.trackers import Trackers

    class Silent:  # a tracker whose every call waits for an answer that never comes
        never = threading.Event()

        def epoch(self, history):
            Silent.never.wait()

    stop, returned = threading.Event(), threading.Event()
    trackers = Trackers({"mlflow": Silent()}, Progress(quiet=True), stop)
    from types import SimpleNamespace

    caller = threading.Thread(target=lambda: (trackers(SimpleNamespace(history={})), returned.set()), daemon=True)
    caller.start()
    stop.set()  # Ctrl-C: the waiting call is given up, the tracker dropped, the run goes on
    assert returned.wait(30) and trackers.opened == {}
    trackers.close(None)  # nothing left to close; the thread hook is put back
    assert threading.excepthook != trackers._thread_failed
