"""The live report: a light page while the run trains, rewritten in the background, replaced by the final report."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from dlpipe.archive import files
from dlpipe.archive.record import RunRecord
from dlpipe.engine.checkpoint import TrainingState
from dlpipe.report import live as live_module
from dlpipe.report.index import write_index
from dlpipe.report.live import LiveReport
from dlpipe.report.svg import line_chart

from conftest import TINY_SINE


class Recorded(LiveReport):
    """A LiveReport that keeps a copy of every page it writes, and lets the caller wait for the next one."""

    pages: list[str]

    def __init__(self, *args, **kwargs):
        self.pages, self.written = [], threading.Event()
        super().__init__(*args, **kwargs)
        if self.enabled:  # the page written at the start, before the first epoch's can replace it in the queue
            assert self.written.wait(30), "the first live page was not written"

    def write(self, *job) -> None:
        super().write(*job)
        self.pages.append((self.record.path / "report.html").read_text(encoding="utf-8"))
        self.written.set()

    def __call__(self, state) -> None:
        self.written.clear()
        super().__call__(state)
        assert self.written.wait(30), "the live page was not written"


def _record(tmp_path) -> RunRecord:
    return RunRecord(name="live<b>", started=datetime.now(timezone.utc), path=tmp_path, description="d")


def test_the_live_page_shows_the_run_so_far_and_reloads_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(live_module, "EVERY_S", 0.0)
    rows = []
    live = Recorded(_record(tmp_path), 5, rows)
    assert live.written.wait(30) and "The first epoch is under way" in live.pages[0]  # written at once
    history = {"epoch": [], "train_loss": [], "val_loss": [], "train_accuracy": [], "val_accuracy": [], "time": []}
    for epoch, loss in ((1, 2.0), (2, 1.0)):
        for key, value in (("epoch", epoch), ("train_loss", loss), ("val_loss", loss * 1.1),
                           ("train_accuracy", 0.5), ("val_accuracy", 0.6), ("time", epoch * 1.0)):
            history[key].append(value)
        rows.append({"epoch": epoch, "layer": 0, "kind": "linear + relu", "activation": "relu", "weight_std": 0.1,
                     "grad_norm": 0.5, "act_mean": 0.2, "act_std": 0.3, "dead": 0.75, "saturated": None})
        live(TrainingState(history=history, epoch=epoch, elapsed=epoch * 1.0))
    live.close()
    page = live.pages[-1]
    assert "epoch 2 of 5" in page and "about 3 s to go" in page and "live&lt;b&gt;" in page
    assert page.count("role=\"img\"") == 2 and page.count("<polyline") == 4  # loss and accuracy, train and validation
    assert "dead ReLUs" in page and "75% of layer 0" in page  # the network verdict so far
    assert "location.reload()" in page and 'id="stale" hidden' in page


def test_nothing_is_written_after_close(tmp_path, monkeypatch):
    monkeypatch.setattr(live_module, "EVERY_S", 0.0)
    live = Recorded(_record(tmp_path), 3, [])
    live.submit({"epoch": [1]}, 0.5)  # a page still queued when close comes
    live.close()
    assert not live._thread.is_alive()  # close returns only once the worker has ended: nothing can write after it
    written = len(live.pages)
    (tmp_path / "report.html").write_text("final")
    live.submit({}, 0.0)  # a late epoch end, after the final report
    LiveReport.__call__(live, TrainingState(history={"epoch": [2]}, epoch=2))  # as the loop calls it, no waiting
    assert (tmp_path / "report.html").read_text() == "final" and len(live.pages) == written


def test_a_run_shows_a_live_page_while_it_trains_and_ends_with_the_full_report(cli, write_yaml, tmp_path,
                                                                                   monkeypatch):
    import dlpipe.runner

    monkeypatch.setattr(live_module, "EVERY_S", 0.0)
    made: list[Recorded] = []
    monkeypatch.setattr(dlpipe.runner, "LiveReport", lambda *a, **k: made.append(Recorded(*a, **k)) or made[-1])
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q").exit_code == 0
    pages = made[0].pages
    assert len(pages) == 6  # at the start, then after each of the 5 epochs
    assert all('<span class="status running">running</span>' in page for page in pages)
    assert [f"epoch {n} of 5" in page for n, page in enumerate(pages)] == [True] * 6
    final = next(tmp_path.glob("tiny/*/report.html")).read_text()
    assert "location.reload" not in final and "completed" in final and "Inside the network" in final


def test_the_index_shows_a_running_run_as_running_and_a_killed_one_as_stopped(tmp_path):
    for stamp in ("a", "b"):
        run_dir = tmp_path / "tiny" / stamp
        run_dir.mkdir(parents=True)
        RunRecord(name="tiny", started=datetime.now(timezone.utc), path=run_dir).write()  # status: running
    held = files.lock_run_dir(tmp_path / "tiny" / "a")  # a's process is alive (this one)
    (tmp_path / "tiny" / "b" / files.LOCK).write_text("99999999")  # b's process was killed: nobody holds it
    try:
        html = write_index(tmp_path).read_text()
    finally:
        files.unlock_run_dir(held)
    assert html.count('class="status running">running') == 1 and html.count('class="status stopped"') == 1


@pytest.mark.parametrize("ys, polylines, circles", [
    ([1.0, 2.0, 3.0], 1, 3),  # few epochs: a dot at each as well
    ([1.0, float("nan"), 3.0, 4.0], 1, 3),  # a NaN is a gap: a lone point, then a line of two
    ([float("inf")] * 3, 0, 0),
])
def test_svg_charts_leave_gaps_for_nan_and_inf(ys, polylines, circles):
    svg = line_chart([("loss", "#000", list(range(1, len(ys) + 1)), ys)], "Loss <by> epoch", log=True)
    assert svg.count("<polyline") == polylines and svg.count("<circle") == circles
    assert "Loss &lt;by&gt; epoch" in svg
    if not polylines and not circles:
        assert "nothing finite to draw yet" in svg
