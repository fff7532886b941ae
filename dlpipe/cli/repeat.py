"""`dlpipe run FILE --repeat N`: the pipeline over N seeds (seed, seed + 1, ...), as ordinary runs made a group.

Each run is archived as any other; then each test metric is summed up as its mean ± the 95 %
interval of Student's t, and the group's page is written (report/group.py). A stop (Ctrl-C)
ends the current run as a stopped run and starts no more; the group holds what was run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlpipe.cli.common import echo


def repeat_runs(file: Path, overrides: tuple[str, ...], loaded, out: Path, repeat: int, quiet: bool, stop,
                execute: Callable, load: Callable) -> int:
    """Run the seeds one after another, print each and the summary; the exit code (the worst of the runs)."""
    from dlpipe.archive.record import EXIT_CODES
    from dlpipe.report.group import summary, write_group
    from dlpipe.report.stats import interval

    base, records, stopped = loaded.pipeline.seed, [], False
    for index in range(repeat):
        seed = base + index
        try:  # a stop between two seeds (loading the next one's data) ends the loop, not the group
            if stop.is_set():
                raise KeyboardInterrupt
            run = loaded if index == 0 and f"seed={seed}" in overrides else \
                load(file, (*overrides, f"seed={seed}"), None)
            record = execute(run, out, None, quiet, stop)
        except KeyboardInterrupt:
            if not records:
                raise  # nothing ran: the command's own message
            echo(f"interrupted before seed {seed}: the group holds the {len(records)} run(s) made", err=True)
            stopped = True
            break
        records.append(record)
        shown = "  ".join(f"{key} {value:.6g}" for key, value in record.test.items())
        echo(f"[{index + 1}/{repeat}] seed {seed}: {record.ref} {record.status}  {shown}".rstrip())
        if record.status == "interrupted":
            break
    folder = write_group(records)
    done = [r for r in records if r.status == "completed"]
    for key, found in summary(records).items():
        echo(f"test {key:<8} {interval(found['values']).text()}  (mean ± 95 % interval over {len(done)} seeds)")
    echo(f"group: {folder / 'report.html'}")
    return max([EXIT_CODES.get(r.status, 1) for r in records] + ([130] if stopped else []))
