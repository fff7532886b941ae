"""Is the network worth it? Its test metric set against the baselines of its task (engine/baselines.py), in words.

The metric compared is the first of COMPARED the run and the baselines both have. For accuracy
(a share of the test samples) the network beats a baseline when its error is lower by more than
two standard errors of the difference (the test set's sampling noise: on 487 messages, one
message is 0.2 %); for balanced accuracy and F1 of imbalanced classes the same, over the rarest
class's test rows times the classes (its recall moves by one row in 50 of them); for other
metrics when its error (1 - R^2, MAE, ...) is at least MARGIN lower.
Within that either way it is "as good".
"""

from __future__ import annotations

import math
from dataclasses import replace

from dlpipe.engine.baselines import BASELINES
from dlpipe.language.metrics import higher_is_better
from dlpipe.report.verdict import Verdict

COMPARED = {"regression": ("r2", "mae", "rmse", "mse", "loss"), "series": ("mae", "rmse", "mse", "r2", "loss"),
            "classification": ("accuracy", "f1", "loss"),
            # a training split whose classes are imbalanced (data/targets.py): never on accuracy or the loss, which
            # always answering the majority class can win while it finds none of the rare class
            "imbalanced": ("balanced_accuracy", "f1", "auc", "pr_auc")}
NAMES = {"r2": "R^2", "mae": "MAE", "rmse": "RMSE", "mse": "MSE", "loss": "loss", "accuracy": "accuracy",
         "f1": "F1", "balanced_accuracy": "balanced accuracy", "auc": "ROC-AUC", "pr_auc": "PR-AUC"}
MARGIN = 0.05  # of the error: a smaller difference is within what a seed changes
# Curve verdicts (report/verdict.py) under which the baselines' standing becomes the headline; any other (diverging,
# plateau, overfitting, ...) already says what went wrong, and the baselines' sentence is added to it.
HEALTHY = ("good", "still improving", "noisy")


def _error(key: str, value: float) -> float:
    return 1.0 - value if higher_is_better(key) else value


SHARES = ("accuracy", "balanced_accuracy", "f1")  # shares of samples (or of a class's): their noise is a share's


def _stands(key: str, mine: float, theirs: float, samples: int) -> str:
    """beats, as good or worse, by the errors of the network (mine) and of the best baseline (theirs)."""
    if key in SHARES and samples > 0:
        noise = 2 * math.sqrt((mine * (1 - mine) + theirs * (1 - theirs)) / samples)
        return "beats" if theirs - mine > noise else "worse" if mine - theirs > noise else "as good"
    return "beats" if mine < (1 - MARGIN) * theirs else "as good" if mine <= (1 + MARGIN) * theirs else "worse"


def comparison(kind: str, test: dict[str, float], baselines: dict[str, dict[str, float]], samples: int = 0,
               imbalanced: bool = False, named: str | None = None) -> tuple[str, str] | None:
    """(how it stands: beats | as good | worse, the sentence), or None without a shared metric. samples: the
    test split's size (the sampling noise of an accuracy); imbalanced: compared on COMPARED["imbalanced"]; named:
    the pipeline's own headline, compared first."""
    compared = COMPARED["imbalanced"] if imbalanced and kind == "classification" else COMPARED[kind]
    compared = (named, *compared) if named else compared
    key = next((k for k in compared if test.get(k) is not None and baselines
                and all(b.get(k) is not None for b in baselines.values())), None)
    if key is None:
        return None
    labels = {name: BASELINES[kind][name].label for name in baselines}
    ranked = sorted(baselines, key=lambda name: _error(key, baselines[name][key]))
    best = ranked[0]
    mine, theirs = _error(key, test[key]), _error(key, baselines[best][key])
    name, value = NAMES.get(key, key), test[key]
    listed = " and ".join(f"{labels[b]} ({baselines[b][key]:.4g})" for b in ranked)
    stands = _stands(key, mine, theirs, samples)
    why = (f" (judged by {name}: the classes are imbalanced, and always answering the majority would win on "
           "accuracy)") if imbalanced and kind == "classification" else ""
    if stands == "beats":
        return "beats", f"the network's test {name} {value:.4g} beats {listed}{why}"
    if stands == "as good":
        return "as good", (f"{labels[best]} is as good (test {name} {baselines[best][key]:.4g}, the network's "
                           f"{value:.4g}): a deeper network is not earning its keep here{why}")
    return "worse", (f"{labels[best]} does better (test {name} {baselines[best][key]:.4g} against the network's "
                     f"{value:.4g}): the network has learned less than it; train it longer or differently, or "
                     f"use the simpler model{why}")


def with_baselines(verdict: Verdict | None, kind: str, test: dict[str, float],
                   baselines: dict[str, dict[str, float]], samples: int = 0, imbalanced: bool = False,
                   named: str | None = None) -> Verdict | None:
    """The verdict with the baselines' sentence; a network that does not beat them is judged by that first."""
    said = comparison(kind, test, baselines, samples, imbalanced, named) if baselines else None
    if said is None:
        return verdict
    stands, sentence = said
    if stands == "beats" or (verdict is not None and verdict.kind not in HEALTHY):
        # a curve that diverged, plateaued or overfit explains a weak result: it stays the headline
        return replace(verdict, advice=f"{verdict.advice}; {sentence}") if verdict else \
            Verdict("beats its baselines", sentence)
    heading = "as good as a baseline" if stands == "as good" else "worse than a baseline"
    if verdict is None:
        return Verdict(heading, sentence)
    # the curves' advice, as overrides, stays: more epochs is what "train it longer" means here
    return replace(verdict, kind=heading, advice=f"{sentence}. The curves: {verdict.kind}: {verdict.advice}")
