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
BIN_SAMPLES = 30  # a bin with fewer samples is too thin to read its gap (its accuracy moves by 3 % per sample)


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


def _largest_gap(bins: list[dict]) -> dict | None:
    """The bin with the largest |accuracy - confidence| among those holding at least BIN_SAMPLES samples."""
    held = [b for b in bins if b["count"] >= BIN_SAMPLES]
    return max(held, key=lambda b: abs(b["accuracy"] - b["confidence"])) if held else None


def _beyond_noise(b: dict) -> bool:
    """Whether a bin's gap is more than twice the binomial error of its accuracy at its confidence."""
    spread = (b["confidence"] * (1.0 - b["confidence"]) / b["count"]) ** 0.5
    return abs(b["accuracy"] - b["confidence"]) > 2.0 * max(spread, 1.0e-3)


def sentence(found: dict) -> str:
    """Whether the probabilities can be taken at face value, in words: the ECE (each bin weighted by its samples),
    the largest gap of a bin that holds enough samples to tell, and the bins too thin to read."""
    ece, over, bins = found["ece"], found["over"], found["bins"]
    head = f"expected calibration error {ece:.3f} (each bin's gap weighted by its share of the {found['samples']:,} " \
           "test samples)"
    if ece < FACE_VALUE:
        said = f"{head}: overall the probabilities can be taken at face value (of the samples given 80 %, about 80 % " \
               "are right)"
    else:
        way = ("overconfident: it is right less often than its probabilities say" if over > 0 else
               "underconfident: it is right more often than its probabilities say")
        said = f"{head}: {way} (by {abs(over):.1%} on average); read its probabilities as a ranking, or calibrate " \
               "them (temperature scaling on the validation split)"
    gap = _largest_gap(bins)
    if gap is not None:
        said += (f"; the largest gap of a bin with at least {BIN_SAMPLES} samples: {gap['low']:.1f}-{gap['high']:.1f}, "
                 f"{gap['accuracy']:.1%} right at {gap['confidence']:.1%} confidence ({gap['count']:,} samples, "
                 f"{'beyond' if _beyond_noise(gap) else 'within'} its noise)")
    thin = [b for b in bins if b["count"] < BIN_SAMPLES]
    if thin:
        where = f"between {thin[0]['low']:.1f} and {thin[-1]['high']:.1f}"
        said += (f"; {len(thin)} bin{'s' if len(thin) > 1 else ''} {where} hold{'' if len(thin) > 1 else 's'} "
                 f"{sum(b['count'] for b in thin):,} of the samples, too few to read (faint on the chart)")
    return said


def chart(found: dict) -> str:
    """The reliability diagram: accuracy against confidence per bin, the diagonal for perfect calibration; bins
    with fewer than BIN_SAMPLES samples are faint points, apart from the line."""
    held = [b for b in found["bins"] if b["count"] >= BIN_SAMPLES]
    thin = [b for b in found["bins"] if b["count"] < BIN_SAMPLES]
    lines = [Line("perfect calibration", TRUE, [0.0, 1.0], [0.0, 1.0], dash="6 4"),
             Line(f"the model: accuracy per bin of {BIN_SAMPLES}+ samples", MODEL, [b["confidence"] for b in held],
                  [b["accuracy"] for b in held], markers=True)]
    if thin:
        lines.append(Line(f"bins of fewer than {BIN_SAMPLES} samples", MODEL, [b["confidence"] for b in thin],
                          [b["accuracy"] for b in thin], radius=5.0, opacity=0.45))
    return Chart(f"Reliability (test, ECE {found['ece']:.3f})", lines,
                 x_label="confidence (probability of the predicted class)", y_label="accuracy",
                 ylim=(0.0, 1.02)).svg()
