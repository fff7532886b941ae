"""A group of runs over seeds (`dlpipe run --repeat N`): group.json and its page, each run marked as a member,
and two groups compared by Welch's t-test.

The group lives in RUNS/<name>/groups/<id>/ (id: the first run's stamp), beside the runs it
holds; each member's metrics.json says `group: {id, index, of}`.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlpipe.archive.files import write_atomic, write_json
from dlpipe.archive.record import RunRecord, read_regular
from dlpipe.report.svg import COLOURS, line_chart
from dlpipe.report.pages import render_page
from dlpipe.report.stats import in_words, interval, paired, welch

GROUP_FILE = "group.json"


def summary(records: list[RunRecord]) -> dict[str, dict]:
    """Per test metric of the completed runs: mean, the 95 % half-width and the values, in run order."""
    done = [r for r in records if r.status == "completed" and r.test]
    keys = [k for k in (done[0].test if done else {}) if all(r.test.get(k) is not None for r in done)]
    return {k: {**vars(interval([r.test[k] for r in done])), "values": [r.test[k] for r in done]} for k in keys}


KINDS = {"seeds": "seed", "folds": "fold"}  # a group's kind (--repeat, --folds) and what one member is


def write_group(records: list[RunRecord], kind: str = "seeds") -> Path:
    """The group's folder with group.json and report.html; every member's metrics.json marked.

    kind: seeds (--repeat: the seed differs) or folds (--folds: each run tests on its own fold)."""
    first = records[0]
    folder = first.path.parent / "groups" / first.path.name
    folder.mkdir(parents=True, exist_ok=True)
    metrics = summary(records)
    runs = [{"ref": r.ref, "stamp": r.path.name, "seed": r.seed, "status": r.status,
             "verdict": (r.verdict or {}).get("kind"), **({"fold": _fold(r)} if kind == "folds" else {}),
             "test_samples": (r.data or {}).get("sizes", {}).get("test")} for r in records]
    labels = [f"fold {run['fold']}" if kind == "folds" else f"seed {run['seed']}" for run in runs]
    facts = {"folds": _fold_count(first), "data": _fingerprint(first)} if kind == "folds" else {}
    write_json(folder / GROUP_FILE, {"id": first.path.name, "name": first.name, "kind": kind, **facts, "runs": runs,
                                     "metrics": metrics, "completed": sum(r.status == "completed" for r in records)})
    curves = [(label, COLOURS[i % len(COLOURS)], r.history.get("epoch", []), r.history.get("val_loss", []))
              for i, (label, r) in enumerate(zip(labels, records))]
    figures = [(f"Validation loss of every {KINDS[kind]}", [line_chart(curves, "Validation loss by epoch", log=True)])]
    write_atomic(folder / "report.html", render_page(
        "group.html", name=first.name, kind=kind, runs=runs, labels=labels, metrics=metrics, figures=figures,
        folds=facts.get("folds"), failed=sum(r.status != "completed" for r in records)))
    for index, record in enumerate(records, 1):
        record.group = {"id": first.path.name, "index": index, "of": len(records), "kind": kind}
        record.write()
    return folder


def _fold(record: RunRecord) -> int | None:
    return (record.data or {}).get("fold", {}).get("index")


def _fold_count(record: RunRecord) -> int | None:
    return (record.data or {}).get("fold", {}).get("of")


def _fingerprint(record: RunRecord) -> str:
    """The data the folds were cut from and how: its files' checksums, the seed and K (paired comparisons)."""
    import hashlib

    files = sorted((record.environment or {}).get("data_files", {}).values())
    return hashlib.sha256(json.dumps([files, record.seed, _fold_count(record)]).encode()).hexdigest()[:16]


def find_group(out: Path, ref: str) -> Path | None:
    """The group folder `ref` names: a path to one, or its id (a prefix will do) under any pipeline of `out`."""
    direct = Path(ref)
    if (direct / GROUP_FILE).is_file():
        return direct
    found = sorted(Path(out).glob(f"*/groups/{ref}*/{GROUP_FILE}"))
    return found[0].parent if len(found) == 1 else None


def read_group(folder: Path) -> dict:
    """A group.json back, checked to hold what dlpipe writes (runs a list, each metric's values numbers); ValueError
    saying what is wrong. Never opens a FIFO or a device, nor a file far larger than a group's."""
    path = Path(folder) / GROUP_FILE
    try:
        data = json.loads(read_regular(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder}: not a group of runs ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict) or \
            not isinstance(data.get("runs"), list):
        raise ValueError(f"{path}: not what dlpipe writes (a group needs its runs and metrics)")
    for key, found in data["metrics"].items():
        values = found.get("values") if isinstance(found, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values):
            raise ValueError(f"{path}: metric {key!r} holds no list of numbers under 'values'")
    return data


def same_folds(a: dict, b: dict) -> bool:
    """Two cross-validations of the same rows cut the same way (data files, seed, K), every fold completed: their
    fold i tested the same rows, so they are compared fold by fold."""
    complete = all(g.get("kind") == "folds" and g.get("completed") == g.get("folds") == len(g["runs"]) for g in (a, b))
    return complete and a.get("data") is not None and a.get("data") == b.get("data")


def compare_groups(a: dict, b: dict) -> list[str]:
    """One line per test metric both groups have: the two means ± intervals, and the paired t-test over the same
    folds, else Welch's test, in words."""
    lines, pair = [], same_folds(a, b)
    for key in [k for k in a["metrics"] if k in b["metrics"]]:
        x, y = a["metrics"][key]["values"], b["metrics"][key]["values"]
        if len(x) < 2 or len(y) < 2:
            lines.append(f"{key}: needs two completed runs in each group")
            continue
        t, df, p = paired(x, y) if pair else welch(x, y)
        first, second = interval(x), interval(y)
        test = f"paired t = {t:.2f} over the same {len(x)} folds (df {df:.0f})" if pair else \
            f"Welch t = {t:.2f} (df {df:.1f})"
        lines.append(f"{key}: {first.text()} against {second.text()}; difference {first.mean - second.mean:+.3g}, "
                     f"{test}, {in_words(p, 'fold' if a.get('kind') == b.get('kind') == 'folds' else 'seed')}")
    return lines
