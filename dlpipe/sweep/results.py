"""A study's trials as plain rows, the best trial's pipeline, and the sweep page written from them."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import optuna
from optuna.trial import TrialState

from dlpipe.archive.files import sanitize_name, write_atomic, write_json
from dlpipe.archive.record import RunRecord
from dlpipe.language.secrets import mask
from dlpipe.report.index import write_index
from dlpipe.report.sweep import ranked, render_sweep
from dlpipe.sweep.search import Plan, warm_up

STATUS = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def page_path(plan: Plan) -> Path:
    """<out>/<name>/sweeps/<study>/sweep.html."""
    return plan.out / sanitize_name(plan.name) / "sweeps" / sanitize_name(plan.study) / "sweep.html"


def rows(study: optuna.Study, plan: Plan, page: Path) -> list[dict]:
    """One row per trial that counts (interrupted ones were queued again); histories are read for the best five."""
    out = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("interrupted") or trial.state == TrialState.WAITING:
            continue
        run = trial.user_attrs.get("run")
        status = trial.user_attrs.get("status") or STATUS.get(trial.state, str(trial.state))
        message = trial.user_attrs.get("message", "")
        if status == "pruned" and message.startswith("pruned at epoch"):
            status = message.split(":")[0]
        out.append({"number": trial.number, "params": dict(trial.params),
                    "value": trial.value if trial.state == TrialState.COMPLETE else None, "status": status,
                    "message": message, "seconds": trial.user_attrs.get("seconds"),
                    "report": os.path.relpath(plan.out / run / "report.html", page.parent) if run else "",
                    "history": None, "run": run})
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    for row in ranked([r for r in out if r["value"] is not None], maximize)[:5]:  # their curves are drawn
        record = _record(plan.out / row["run"]) if row["run"] else None
        row["history"] = record.history if record else None
    return out


def _record(run_dir: Path) -> RunRecord | None:
    try:
        return RunRecord.read(run_dir)
    except (OSError, ValueError, TypeError):
        return None


def best_yaml(study: optuna.Study, plan: Plan) -> tuple[int | None, str]:
    """The best completed trial's number and its resolved pipeline.yaml (the run's own file, as archived)."""
    try:
        best = study.best_trial
    except ValueError:
        return None, ""
    run = best.user_attrs.get("run")
    try:
        return best.number, (plan.out / run / "pipeline.yaml").read_text(encoding="utf-8") if run else ""
    except OSError:
        return best.number, ""


def write_page(study: optuna.Study, plan: Plan) -> Path:
    """Render the sweep page atomically; returns its path."""
    page = page_path(plan)
    page.parent.mkdir(parents=True, exist_ok=True)
    found = rows(study, plan, page)
    try:
        importance = dict(optuna.importance.get_param_importances(study)) if len(
            [r for r in found if r["value"] is not None]) >= 3 else {}
    except (RuntimeError, ValueError, ZeroDivisionError):
        importance = {}
    number, text = best_yaml(study, plan)
    counts = {}
    for row in found:
        kind = row["status"].split(" at ")[0]
        counts[kind] = counts.get(kind, 0) + 1
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    html = render_sweep({"name": plan.name, "study": plan.study, "metric": plan.sweep.metric,
                         "maximize": maximize, "rows": found, "method": plan.sweep.method, "prune": plan.sweep.prune,
                         "prune_from": warm_up(plan.epochs),
                         "kinds": {k: p.kind for k, p in plan.sweep.parameters.items()}, "importance": importance,
                         "best_yaml": text, "best_number": number, "storage": mask(plan.storage),
                         "counts": ", ".join(f"{n} {k}" for k, n in counts.items()) or "none yet",
                         "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")})
    write_atomic(page, html)
    best = min((r for r in found if r["value"] is not None), default=None,
               key=lambda r: -r["value"] if maximize else r["value"])
    write_json(page.with_name("sweep.json"), {  # what the archive's index shows of the sweep
        "name": plan.name, "study": plan.study, "metric": plan.sweep.metric, "method": plan.sweep.method,
        "trials": len(found), "counts": counts, "best": {"number": best["number"], "value": best["value"],
                                                         "params": best["params"]} if best else None})
    try:
        write_index(plan.out)  # its Sweeps table
    except Exception:  # noqa: BLE001 - the index is a convenience: it never stops a sweep
        pass
    return page
