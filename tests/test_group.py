"""Repeats over seeds: Student's t and Welch's test (report/stats.py), `dlpipe run --repeat N` with its group page,
and `dlpipe compare` of two groups, on real runs."""

from __future__ import annotations

import json
import math

import pytest

from dlpipe.report import stats
from dlpipe.report.group import compare_groups

from conftest import ROOT


@pytest.mark.parametrize("df, quantile", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423),
                                          (1000, 1.9623)])
def test_the_t_quantiles_are_the_printed_tables(df, quantile):
    assert stats.t_quantile(0.975, df) == pytest.approx(quantile, abs=1.0e-4)


def test_welch_matches_the_worked_example_and_intervals_shrink_with_more_seeds():
    t, df, p = stats.welch([1, 2, 3, 4, 5], [3, 4, 5, 6, 7])
    assert (t, df) == pytest.approx((-2.0, 8.0)) and p == pytest.approx(0.08052, abs=1.0e-4)  # scipy's ttest_ind
    t, df, p = stats.welch([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
                           [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4])
    assert (t, df, p) == pytest.approx((-2.46, 24.99, 0.021), abs=0.01)  # Welch (1947) via Wikipedia's example 1
    few, many = stats.interval([1.0, 2.0, 3.0]), stats.interval([1.0, 2.0, 3.0] * 4)
    assert few.mean == many.mean == 2.0 and many.half < few.half == pytest.approx(4.3027 * 1.0 / math.sqrt(3), 1e-4)
    assert "within the seeds' spread" in stats.in_words(0.4) and "not chance" in stats.in_words(0.001)


def test_two_groups_from_the_same_spread_are_within_it():
    same = {"metrics": {"r2": {"values": [0.91, 0.93, 0.92, 0.90, 0.94]}}}
    other = {"metrics": {"r2": {"values": [0.92, 0.90, 0.93, 0.91, 0.93]}}}
    assert "within the seeds' spread" in compare_groups(same, other)[0]
    far = {"metrics": {"r2": {"values": [0.81, 0.82, 0.80, 0.83, 0.81]}}}
    assert "not chance" in compare_groups(same, far)[0]


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    """sine.yaml over 3 seeds, twice: as shipped (20 epochs) and with a learning rate 100 times lower."""
    from click.testing import CliRunner

    from dlpipe.cli import main

    out = tmp_path_factory.mktemp("groups")
    outputs = []
    for lr in ("1.0e-2", "1.0e-4"):
        result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "sine.yaml"), "--out", str(out), "-q",
                                           "--repeat", "3", "--set", "training.epochs=20",
                                           "--set", f"optimizer.lr={lr}"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return out, outputs


def test_repeat_runs_the_seeds_as_ordinary_runs_and_sums_them_up(groups):
    out, outputs = groups
    lines = outputs[0].splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["[1/3] seed 42", "[2/3] seed 43", "[3/3] seed 44"]
    assert any(line.startswith("test r2") and "± " in line and "over 3 seeds" in line for line in lines)
    folder = sorted((out / "sine" / "groups").iterdir())[0]
    group = json.loads((folder / "group.json").read_text())
    assert [run["seed"] for run in group["runs"]] == [42, 43, 44] and group["completed"] == 3
    r2 = group["metrics"]["r2"]
    assert r2["mean"] == pytest.approx(sum(r2["values"]) / 3) and r2["half"] > 0
    for index, run in enumerate(group["runs"], 1):
        record = json.loads((out / run["ref"] / "metrics.json").read_text())
        assert record["group"] == {"id": folder.name, "index": index, "of": 3, "kind": "seeds"} and record["seed"] == run["seed"]
    page = (folder / "report.html").read_text()
    assert "sine: 3 seeds" in page and "Validation loss of every seed" in page and "seed 44" in page


def test_compare_tells_a_real_difference_from_the_seeds_spread(cli, groups):
    out, _ = groups
    first, second = sorted((out / "sine" / "groups").iterdir())
    result = cli("compare", first.name, second.name, "--out", out)
    assert result.exit_code == 0, result.output
    r2 = next(line for line in result.output.splitlines() if line.strip().startswith("r2:"))
    assert "Welch t = " in r2 and ("not chance" in r2 or "unlikely to be chance" in r2)


def test_compare_of_single_runs_says_whether_a_difference_is_noise_and_by_what(cli, groups, write_yaml, tmp_path):
    out, _ = groups
    first, second = sorted((out / "sine" / "groups").iterdir())
    seeds = [json.loads((g / "group.json").read_text())["runs"][0]["ref"] for g in (first, second)]
    grouped = cli("compare", *seeds, "--out", out)  # one seed of each group: the groups decide
    r2 = next(line for line in grouped.output.splitlines() if line.startswith("r2 "))
    assert "Welch's t over the groups' 3 and 3 seeds" in r2 and "chance" in r2
    for lr in ("1.0e-2", "1.0e-1"):  # the shipped sine, once each: its measured seed spread decides
        assert cli("run", ROOT / "pipelines" / "sine.yaml", "--out", tmp_path / "shipped", "-q",
                   "--set", "training.epochs=4", "--set", f"optimizer.lr={lr}").exit_code == 0
    shipped = cli("compare", *sorted(f"sine/{p.name}" for p in (tmp_path / "shipped" / "sine").iterdir()), "--out",
                  tmp_path / "shipped")
    r2 = next(line for line in shipped.output.splitlines() if line.startswith("r2 "))
    assert "the seed spread of the shipped pipelines/sine.yaml (sd " in r2 and "over 5 seeds" in r2
    assert "Is the best run's lead noise?" in next((tmp_path / "shipped" / "comparisons").iterdir()).read_text()
    from conftest import TINY_SINE

    for lr in ("1.0e-2", "2.0e-2"):  # a pipeline of the user's own, once each: it cannot tell
        assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path / "own", "-q",
                   "--set", f"optimizer.lr={lr}").exit_code == 0
    own = cli("compare", *sorted(f"tiny/{p.name}" for p in (tmp_path / "own" / "tiny").iterdir()), "--out",
              tmp_path / "own")
    r2 = next(line for line in own.output.splitlines() if line.startswith("r2 "))
    assert "one run each cannot tell a seed's luck from a real difference: `dlpipe run --repeat 5` each" in r2


def test_repeat_refuses_resume_and_nproc(cli, tmp_path):
    result = cli("run", ROOT / "pipelines" / "sine.yaml", "--repeat", "2", "--nproc", "2", "--out", tmp_path)
    assert result.exit_code == 2 and "--repeat makes new runs on one process" in result.stderr


def test_a_stop_between_two_seeds_keeps_the_runs_made_and_writes_their_group(cli, write_yaml, tmp_path, monkeypatch):
    """Ctrl-C while the next seed's data loaded said "no run was started" and wrote no group, though runs were done."""
    from dlpipe.cli import run as run_command

    from conftest import TINY_SINE

    real, calls = run_command._load_for_run, []

    def interrupted_third_load(*args):
        calls.append(args)
        if len(calls) == 3:  # the command's own load, seed 1's, then seed 2's: the signal arrives here
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(run_command, "_load_for_run", interrupted_third_load)
    done = cli("run", write_yaml(TINY_SINE), "--repeat", "3", "--out", tmp_path, "-q")
    assert done.exit_code == 130 and "no run was started" not in done.output
    assert "interrupted before seed 2: the group holds the 1 run(s) made" in done.stderr
    group = json.loads(next(tmp_path.glob("tiny/groups/*/group.json")).read_text())
    assert [run["seed"] for run in group["runs"]] == [1] and group["completed"] == 1


def test_a_damaged_or_special_group_json_is_one_line_never_a_traceback_or_a_hang(cli, tmp_path):
    import os

    groups = tmp_path / "sine" / "groups"
    for name, content in (("plain", '{"metrics": {}, "runs": []}'), ("norun", '{"metrics": {}}'),
                          ("typed", '{"metrics": {"r2": {"values": "x"}}, "runs": []}')):
        (groups / name).mkdir(parents=True)
        (groups / name / "group.json").write_text(content)
    (groups / "fifo").mkdir()
    os.mkfifo(groups / "fifo" / "group.json")  # reading it would wait for a writer for ever
    for name, said in (("norun", "not what dlpipe writes (a group needs its runs and metrics)"),
                       ("typed", "metric 'r2' holds no list of numbers under 'values'"),
                       ("fifo", "missing, or not a regular file")):
        done = cli("compare", name, "plain", "--out", tmp_path)
        assert done.exit_code == 2 and said in done.stderr and "Traceback" not in done.output, (name, done.output)
