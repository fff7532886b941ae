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
from dlpipe.report.stats import in_words, interval, welch

GROUP_FILE = "group.json"


def summary(records: list[RunRecord]) -> dict[str, dict]:
    """Per test metric of the completed runs: mean, the 95 % half-width and the values, in run order."""
    done = [r for r in records if r.status == "completed" and r.test]
    keys = [k for k in (done[0].test if done else {}) if all(r.test.get(k) is not None for r in done)]
    return {k: {**vars(interval([r.test[k] for r in done])), "values": [r.test[k] for r in done]} for k in keys}


def write_group(records: list[RunRecord]) -> Path:
    """The group's folder with group.json and report.html; every member's metrics.json marked."""
    first = records[0]
    folder = first.path.parent / "groups" / first.path.name
    folder.mkdir(parents=True, exist_ok=True)
    metrics = summary(records)
    runs = [{"ref": r.ref, "stamp": r.path.name, "seed": r.seed, "status": r.status,
             "verdict": (r.verdict or {}).get("kind")} for r in records]
    write_json(folder / GROUP_FILE, {"id": first.path.name, "name": first.name, "runs": runs,
                                     "metrics": metrics, "completed": sum(r.status == "completed" for r in records)})
    curves = [(f"seed {r.seed}", COLOURS[i % len(COLOURS)], r.history.get("epoch", []), r.history.get("val_loss", []))
              for i, r in enumerate(records)]
    figures = [("Validation loss of every seed", [line_chart(curves, "Validation loss by epoch", log=True)])]
    write_atomic(folder / "report.html", render_page(
        "group.html", name=first.name, runs=runs, seeds=[r.seed for r in records], metrics=metrics, figures=figures,
        failed=sum(r.status != "completed" for r in records)))
    for index, record in enumerate(records, 1):
        record.group = {"id": first.path.name, "index": index, "of": len(records)}
        record.write()
    return folder


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


def compare_groups(a: dict, b: dict) -> list[str]:
    """One line per test metric both groups have: the two means ± intervals and Welch's test, in words."""
    lines = []
    for key in [k for k in a["metrics"] if k in b["metrics"]]:
        x, y = a["metrics"][key]["values"], b["metrics"][key]["values"]
        if len(x) < 2 or len(y) < 2:
            lines.append(f"{key}: needs two completed runs in each group")
            continue
        t, df, p = welch(x, y)
        first, second = interval(x), interval(y)
        lines.append(f"{key}: {first.text()} against {second.text()}; difference {first.mean - second.mean:+.3g}, "
                     f"Welch t = {t:.2f} (df {df:.1f}), {in_words(p)}")
    return lines
