"""MLflow: a run per dlpipe run (a sweep's trials nested under one run for the sweep) with the resolved pipeline as
params, every epoch's metrics, the test metrics, and the report, model and pipeline files as artifacts.

The client API (MlflowClient), not the fluent one: no global active run, so a sweep's
trials and a notebook's own runs never mix. Epoch metrics are sent in batches at most
every FLUSH_S seconds, so a fast run does not wait on the server after each epoch.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from dlpipe.archive.record import RunRecord
from dlpipe.language.paths import not_a_file
from dlpipe.language.secrets import mask
from dlpipe.language.tracking import MLflowTracking
from dlpipe.tracking.common import finite_steps, need, run_files

FLUSH_S = 2.0
MAX_PARAMS, MAX_METRICS, MAX_VALUE = 100, 1000, 6000  # MLflow's limits per log_batch, and per param value
STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "interrupted": "KILLED"}  # anything else: FAILED


QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}  # unless the user set them


class _Quick:
    """An MlflowClient whose every call is made with MLflow's HTTP retries off, so a server that is down answers at
    once instead of after MLflow's default retries (minutes); the environment is put back after each call, so the
    user's own MLflow code in the same process (a notebook) keeps its settings."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            added = [key for key in QUICK if key not in os.environ]
            os.environ.update({key: QUICK[key] for key in added})
            try:
                return found(*args, **kwargs)
            finally:
                for key in added:
                    os.environ.pop(key, None)
        return call


def _sqlite_file(uri: str | None) -> None:
    """ValueError when a sqlite:/// store names something that is not a database file (a folder, a FIFO):
    MLflow retried such a store for about 100 s before training, deaf to Ctrl-C."""
    if not uri or not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///").split("?")[0])
    why = not_a_file(path)
    if why is not None and why != "no such file":  # (a new file is fine: MLflow makes the store)
        raise ValueError(f"{mask(uri)}: {path} {why}; name a database file, e.g. sqlite:///mlflow.db")


class MLflowTracker:
    """One MLflow run, created when the dlpipe run starts and ended when it ends."""

    def __init__(self, config: MLflowTracking, params: dict, record: RunRecord, before: dict | None = None):
        """before: where the run was logged before it was stopped (a resume goes on in that MLflow run)."""
        need("mlflow", "mlflow")  # (importing it sets its loggers up: quieten them after)
        for name in ("mlflow", "alembic"):  # their INFO lines (creating a store's tables) are not the run's to say
            logging.getLogger(name).setLevel(logging.WARNING)
        entities, client = need("mlflow.entities", "mlflow"), need("mlflow.tracking", "mlflow")
        self.entities = entities
        self.uri = config.uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        _sqlite_file(self.uri)
        self.client = _Quick(client.MlflowClient(tracking_uri=self.uri))
        self.experiment = config.experiment or record.name
        experiment_id = self._experiment()
        tags = {"mlflow.runName": f"{record.name}/{record.path.name}", "mlflow.source.name": record.source,
                "dlpipe.run_dir": str(record.path), "mlflow.note.content": record.description}
        self.parent = self._parent(experiment_id, record.sweep)
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        self.run_id, self.logged = self._continued(before or {}) or (None, 0)
        if self.run_id is None:
            self.run_id = self.client.create_run(experiment_id, tags=tags).info.run_id
            items = [entities.Param(key[:250], (value if isinstance(value, str) else json.dumps(value))[:MAX_VALUE])
                     for key, value in params.items()]  # as YAML writes them: null, true, [0.9, 0.99]
            for at in range(0, len(items), MAX_PARAMS):
                self.client.log_batch(self.run_id, params=items[at:at + MAX_PARAMS])
        self.where = {"uri": mask(self.client.tracking_uri), "experiment": self.experiment, "run_id": self.run_id}
        self.pending, self.flushed = [], time.monotonic()

    def _continued(self, before: dict) -> tuple[str, int] | None:
        """(run id, epochs it holds) of the MLflow run a resumed run was logged to, reopened; None: a new one."""
        if not before.get("run_id") or (before.get("uri"), before.get("experiment")) != (
                mask(self.client.tracking_uri), self.experiment):
            return None
        try:
            self.client.get_run(before["run_id"])
        except Exception:  # noqa: BLE001 - deleted, or another store: log to a new run
            return None
        self.client.update_run(before["run_id"], status="RUNNING")
        steps = [m.step for m in self.client.get_metric_history(before["run_id"], "train_loss")]
        return before["run_id"], max(steps, default=0)

    def epoch(self, history: dict[str, list[float]]) -> None:
        """Queue the epochs not yet logged; send them when FLUSH_S has passed since the last send."""
        now = int(time.time() * 1000)
        self.pending += [self.entities.Metric(key, value, now, step) for key, step, value in
                         finite_steps(history, self.logged)]
        self.logged = len(history.get("epoch", []))
        if time.monotonic() - self.flushed >= FLUSH_S:
            self._flush()

    def close(self, record: RunRecord) -> None:
        """The last epochs, the test metrics (test_NAME), the run's files; the run ends with the run's status."""
        self.epoch(record.history)
        now, step = int(time.time() * 1000), max(self.logged, 1)
        self.pending += [self.entities.Metric(f"test_{key}", float(value), now, step)
                         for key, value in record.test.items() if isinstance(value, (int, float))]
        self._flush()
        for path in run_files(record):
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_tag(self.run_id, "dlpipe.status", record.status)
        self.client.set_terminated(self.run_id, STATUS.get(record.status, "FAILED"))
        if self.parent:
            self.client.set_terminated(self.parent, "FINISHED")  # the sweep so far; a next trial reopens it

    def _flush(self) -> None:
        for at in range(0, len(self.pending), MAX_METRICS):
            self.client.log_batch(self.run_id, metrics=self.pending[at:at + MAX_METRICS])
        self.pending, self.flushed = [], time.monotonic()

    def _experiment(self) -> str:
        """The experiment's id, created when missing (a local SQLite store keeps its artifacts beside the file)."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        uri, location = self.client.tracking_uri, None
        if uri.startswith("sqlite:///"):  # else MLflow puts them in ./mlruns of whatever folder the run starts in
            location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def _parent(self, experiment_id: str, sweep: dict | None) -> str | None:
        """A sweep trial's parent: the run named for its study, found (another sweep process made it) or created."""
        study = (sweep or {}).get("study")
        if not study or "'" in study:
            return None
        found = self.client.search_runs([experiment_id], f"tags.`dlpipe.sweep` = '{study}'", max_results=1)
        if found:
            self.client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        tags = {"dlpipe.sweep": study, "mlflow.runName": f"sweep {study}",
                "dlpipe.metric": str((sweep or {}).get("metric", ""))}
        return self.client.create_run(experiment_id, tags=tags).info.run_id
