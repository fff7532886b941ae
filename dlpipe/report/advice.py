"""The verdict's advice as `--set` overrides: the change, in the pipeline's own keys, that follows it.

ADVICE is the one table: per verdict kind, a function of the run's settings (`Settings`, read
from its pipeline) that returns the overrides, or None where the advice is not a setting (more
data, another encoding: the words say so). `advise` fills a verdict's `suggest` from it, and
rewrites the overfitting advice of a run whose early stopping already kept its best epoch:
early stopping is never advised twice. benchmarks/advice.py follows every suggestion on real runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import Callable

from dlpipe.report.verdict import Verdict


@dataclass(frozen=True)
class Settings:
    """What the advice needs to know of a run's pipeline."""

    lr: float
    epochs: int
    scheduler: str | None  # its type, None for a constant learning rate
    kept_best: bool  # early stopping on, ending with its best epoch's weights


def settings(pipeline) -> Settings:
    """A pipeline's Settings (the language stage's Pipeline)."""
    stopping = pipeline.training.early_stopping
    return Settings(lr=pipeline.optimizer.lr, epochs=pipeline.training.epochs,
                    scheduler=pipeline.scheduler.type if pipeline.scheduler else None,
                    kept_best=bool(stopping and stopping.restore_best))


def number(value: float) -> str:
    """A number as the pipelines write it: 3.0e-4, 0.03, 60."""
    if value == int(value) and abs(value) < 1.0e6:
        return str(int(value))
    if 1.0e-2 <= abs(value) < 1.0e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _patience(s: Settings) -> int:
    return max(3, min(20, s.epochs // 10))


def _overfit(s: Settings) -> tuple[str, ...] | None:
    return None if s.kept_best else (f"training.early_stopping={{monitor: val_loss, patience: {_patience(s)}}}",)


# verdict kind -> the overrides that follow its advice (None: the advice is not a setting)
ADVICE: dict[str, Callable[[Settings], tuple[str, ...] | None]] = {
    "diverging": lambda s: (f"optimizer.lr={number(s.lr / 10)}",),
    "learning rate too high": lambda s: (f"optimizer.lr={number(s.lr / 10)}",),
    "plateau": lambda s: (f"optimizer.lr={number(s.lr * 10)}",),
    "learning rate too low": lambda s: (f"optimizer.lr={number(s.lr * 10)}",),
    "noisy": lambda s: ((f"optimizer.lr={number(s.lr / 3)}",) if s.scheduler else
                        ("scheduler=cosine", f"training.epochs={2 * s.epochs}")),
    "overfitting": _overfit,
    "generalisation gap": _overfit,
    "still improving": lambda s: (f"training.epochs={2 * s.epochs}",),
}
KEPT = ("early stopping kept the weights of its best epoch{at}, so the test metrics are that epoch's and the later "
        "rise cost nothing; what may lift the best itself (more data, dropout, weight_decay) is not sure to: try it "
        "with `dlpipe run --repeat 3` and compare")


def advise(verdict: Verdict | None, run: Settings | None, best_epoch: int | None = None) -> Verdict | None:
    """The verdict with its `suggest` overrides (unless it has its own), its words fitted to what is already on."""
    if verdict is None or run is None or verdict.suggest or verdict.worded or verdict.kind not in ADVICE:
        return verdict
    if verdict.kind in ("overfitting", "generalisation gap") and run.kept_best:
        head = verdict.advice.split(":")[0]
        return replace(verdict, advice=f"{head}: " + KEPT.format(at=f" (epoch {best_epoch})" if best_epoch else ""))
    return replace(verdict, suggest=ADVICE[verdict.kind](run) or ())


def command(pipeline, suggest: list[str] | tuple[str, ...]) -> str:
    """The command line that follows the advice: a run's own resolved pipeline.yaml with the suggested --set."""
    return " ".join(["dlpipe run", shlex.quote(str(pipeline)), *(f"--set {shlex.quote(s)}" for s in suggest)])
