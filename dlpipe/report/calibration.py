"""Can a classifier's probabilities be taken at face value? Its reliability on the test split, in numbers and words.

The test samples are put in BINS equal-width bins by the probability the model gave its
predicted class (its confidence); in each bin, the share it got right (its accuracy) should
match the mean confidence. The expected calibration error (ECE) is the bins' gaps weighted by
their sample counts (Guo et al. 2017, "On calibration of modern neural networks").
"""

from __future__ import annotations

import numpy as np

from dlpipe.report.charts import MODEL, TRUE
from dlpipe.report.svg import Chart, Line

BINS = 10
FACE_VALUE = 0.02  # an ECE below this: the probabilities can be read as they are
MIN_SAMPLES = 20  # fewer test samples say too little


def calibration(probabilities: np.ndarray, target: np.ndarray) -> dict | None:
    """{ece, over (mean confidence - accuracy), samples, bins: [{low, high, count, confidence, accuracy}]}."""
    if len(target) < MIN_SAMPLES:
        return None
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    correct = (predicted == target).astype(float)
    which = np.minimum((confidence * BINS).astype(int), BINS - 1)
    bins, ece = [], 0.0
    for b in range(BINS):
        inside = which == b
        if inside.any():
            mean_confidence, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
            ece += inside.mean() * abs(accuracy - mean_confidence)
            bins.append({"low": b / BINS, "high": (b + 1) / BINS, "count": int(inside.sum()),
                         "confidence": mean_confidence, "accuracy": accuracy})
    return {"ece": float(ece), "over": float(confidence.mean() - correct.mean()), "samples": int(len(target)),
            "bins": bins}


def sentence(found: dict) -> str:
    """Whether the probabilities can be taken at face value, in words."""
    ece, over = found["ece"], found["over"]
    if ece < FACE_VALUE:
        return (f"expected calibration error {ece:.3f}: the probabilities can be taken at face value (of the "
                "samples given 80 %, about 80 % are right)")
    way = ("overconfident: it is right less often than its probabilities say" if over > 0 else
           "underconfident: it is right more often than its probabilities say")
    return (f"expected calibration error {ece:.3f}: {way} (by {abs(over):.1%} on average); read its probabilities "
            "as a ranking, or calibrate them (temperature scaling on the validation split)")


def chart(found: dict) -> str:
    """The reliability diagram: accuracy against confidence per bin, the diagonal for perfect calibration."""
    bins = found["bins"]
    return Chart(f"Reliability (test, ECE {found['ece']:.3f})", [
        Line("perfect calibration", TRUE, [0.0, 1.0], [0.0, 1.0], dash="6 4"),
        Line("the model: accuracy per bin", MODEL, [b["confidence"] for b in bins], [b["accuracy"] for b in bins],
             markers=True)], x_label="confidence (probability of the predicted class)", y_label="accuracy",
        ylim=(0.0, 1.02)).svg()
