"""`dlpipe run FILE --repeat N` and `--folds K`: the pipeline as a group of ordinary runs (trained/groups.py).

--repeat: seeds seed, seed + 1, ...; --folds: one run per fold of K-fold cross-validation. Each run is archived
as any other; then each test metric is printed as its mean ± the 95 % interval of Student's t, and the group's
page is written (report/group.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlpipe.cli.common import echo
from dlpipe.cli.common import fail as _fail


def group_runs(file: Path, overrides: tuple[str, ...], loaded, out: Path, repeat: int, folds: int | None,
               quiet: bool, stop, execute: Callable, load: Callable) -> int:
    """Run the members one after another, print each and the summary; the exit code (the worst of the runs)."""
    from dlpipe.archive.record import EXIT_CODES
    from dlpipe.trained.groups import GroupError, folds as fold_members, run_group, seeds

    try:
        members = fold_members(folds, loaded.pipeline.data) if folds else seeds(loaded.pipeline.seed, repeat)
    except GroupError as exc:
        _fail(str(exc))

    def member_pipeline(member):  # (already loaded and checked when the command line holds its overrides)
        if set(member.overrides) <= set(overrides):
            return loaded
        return load(file, (*overrides, *member.overrides), None)

    made = run_group(members, "folds" if folds else "seeds", member_pipeline,
                     lambda run: execute(run, out, None, quiet, stop), stop, echo, lambda line: echo(line, err=True))
    for line in made.lines():
        echo(line)
    echo(f"group: {made.folder / 'report.html'}")
    return max([EXIT_CODES.get(r.status, 1) for r in made.records] + ([130] if made.stopped else []))
