"""The simple models every run is set against, fitted on its training split and scored on its test split.

One table, BASELINES: per task, each baseline's name (the key in metrics.json), its label in
words and its fit. They see the network's own inputs, flattened (pixels for images; for token
ids, the counts of each id: a bag of words); regression and series predict in the standardized
target units the network does, so every metric is computed the same way. Each stays a small
share of a run: least squares is one linear solve (its dual form when there are more features
than rows), the logistic fit a few full-batch L-BFGS steps on at most FIT_ROWS rows (said when
it subsamples), kept sparse for text. One that reads more than FIT_CELLS cells is skipped with the
reason; the mean and the majority class read none, so they always run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from dlpipe.data.dataset import Dataset
from dlpipe.engine.evaluate import scores
from dlpipe.engine.optim import TorchLBFGS
from dlpipe.engine.trees import fit_trees, fits_a_table

RIDGE = 1.0e-3  # the ridge term of least squares, relative to the mean squared feature
FIT_ROWS = 4000  # training rows the logistic fit and a wide least-squares fit use at most (evenly spread)
FIT_CELLS = 50_000_000  # rows x features beyond which a baseline is not fitted (its reason is said)
LBFGS_STEPS = 20
DECAY = 1.0e-4  # the logistic fit's weight decay (L2 on the weights)
RARE_FLOOR = 0.1  # sparse features are scaled by at least this share of the largest feature scale
SPARSE = 0.1  # features nonzero in fewer than this share of cells are kept sparse


@dataclass(frozen=True)
class Baseline:
    """label: what it is, in words (the report's column, the verdict's sentence); fit(train x, train y, classes)
    returns a function from inputs to outputs in the network's units (scores per class, or standardized values).
    flat: it takes flat float features (else the samples as they are). extra: a baseline of tables that needs an
    install extra; without it, a note says how to get it. reads: it reads the features at all (the
    mean and the majority class do not, so no size stops them). sparse: it keeps mostly-zero features sparse, so
    its cost is their nonzero cells. subsampled: fitted on at most FIT_ROWS rows."""

    label: str
    fit: Callable[[torch.Tensor, torch.Tensor, int], Callable[[torch.Tensor], torch.Tensor]]
    flat: bool = True
    reads: bool = True
    sparse: bool = False
    subsampled: bool = False
    extra: str | None = None  # the install extra it needs (imported only then): fitted only on a table's inputs


def _features(x: torch.Tensor, width: int | None) -> torch.Tensor:
    """Flat float features; token ids (int64) become the counts of each id (`width` of them, padding left out), as
    a sparse CSR matrix: a bag of words."""
    if not x.is_floating_point():
        rows = torch.arange(len(x), device=x.device).repeat_interleave(x.shape[1])
        ids = x.reshape(-1)
        keep = ids != 0
        counts = torch.sparse_coo_tensor(torch.stack([rows[keep], ids[keep]]), torch.ones(int(keep.sum())),
                                         (len(x), width), check_invariants=False).coalesce()
        return _csr(counts)
    return x.reshape(len(x), -1).float()


def _dense(x: torch.Tensor) -> torch.Tensor:
    return x.to_dense() if x.layout == torch.sparse_csr else x


def _sparse(x: torch.Tensor) -> torch.Tensor | None:
    """x as CSR when few of its cells are nonzero (bag and tf-idf counts), else None."""
    if x.layout == torch.sparse_csr:
        return x
    if x.device.type != "cpu" or int(torch.count_nonzero(x)) >= SPARSE * x.numel():
        return None
    return _csr(x)


def _csr(x: torch.Tensor) -> torch.Tensor:
    """x in CSR layout (torch calls its CSR support beta; the operations used here are tested)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return x.to_sparse_csr()


def _scaled(csr: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A CSR matrix with each column divided by its scale."""
    columns = csr.col_indices()
    return torch.sparse_csr_tensor(csr.crow_indices(), columns, csr.values() / scale[columns], csr.shape,
                                   check_invariants=False)  # (the arrays of a valid CSR matrix)


def _mean(x, y, classes):
    centre = y.float().mean(dim=0, keepdim=True)
    return lambda new: centre.expand(len(new), -1)


def _majority(x, y, classes):
    """The training classes' shares as probabilities: the majority class first, its loss the prior's."""
    share = torch.bincount(y, minlength=classes).float() / len(y)
    scores = share.clamp_min(1.0e-6).log()[None]
    return lambda new: scores.expand(len(new), -1)


def _least_squares(x, y, classes):
    """Ridge regression on centred features, closed form (dual when features outnumber rows)."""
    x = _dense(x)
    mean_x, mean_y = x.mean(dim=0, keepdim=True), y.float().mean(dim=0, keepdim=True)
    a, b = (x - mean_x).double(), (y.float() - mean_y).double()
    ridge = RIDGE * float((a * a).mean()) * len(a) + 1.0e-12
    if a.shape[1] <= a.shape[0]:
        weights = torch.linalg.solve(a.T @ a + ridge * torch.eye(a.shape[1], dtype=a.dtype, device=a.device), a.T @ b)
    else:
        weights = a.T @ torch.linalg.solve(a @ a.T + ridge * torch.eye(len(a), dtype=a.dtype, device=a.device), b)
    weights = weights.float()
    return lambda new: (_dense(new) - mean_x) @ weights + mean_y


def _logistic(x, y, classes):
    """Multinomial logistic regression (a little weight decay), full-batch L-BFGS from zero, gradients by hand.

    Mostly-zero features (bag and tf-idf counts) are scaled without centring and kept sparse (CSR): on the spam
    corpus a step then costs 0.3 ms instead of 16 (the dense pass reads the whole rows x vocabulary matrix).
    """
    csr = _sparse(x)
    if csr is not None:  # scale the stored values only; the transpose for the gradient as CSR too (CSC's arrays)
        squares = csr.values().float().square()
        scale = torch.zeros(x.shape[1]).index_add_(0, csr.col_indices(), squares).div_(len(y))
        # A floor of a tenth of the largest scale: standardizing a word seen in one row would make it 50 times
        # louder than a frequent one, and the fit would learn rare words by heart (0.66 on a one-word task).
        scale = scale.sqrt_()
        scale = scale.clamp_min(max(float(scale.max()) * RARE_FLOOR, 1.0e-6))
        z = _scaled(csr, scale)
        csc = z.to_sparse_csc()
        zt = torch.sparse_csr_tensor(csc.ccol_indices(), csc.row_indices(), csc.values(), (x.shape[1], len(y)),
                                     check_invariants=False)
    else:
        mean = x.mean(dim=0, keepdim=True)
        scale = (x - mean).square().mean(dim=0, keepdim=True).sqrt().clamp_min(1.0e-6)
        z = (x - mean) / scale
        zt = z.T.contiguous()

    def prepared(new):
        if csr is None:
            return (new - mean) / scale
        return _scaled(new if new.layout == torch.sparse_csr else _csr(new), scale)

    weights = torch.zeros(x.shape[1], classes, device=x.device)
    bias = torch.zeros(classes, device=x.device)
    target = nn.functional.one_hot(y, classes).float()
    optimizer = TorchLBFGS([weights, bias], lr=1.0, max_iter=LBFGS_STEPS, line_search_fn="strong_wolfe")

    def closure():
        logits = z @ weights + bias
        loss = nn.functional.cross_entropy(logits, y) + DECAY * weights.square().sum()
        error = (logits.softmax(dim=1) - target) / len(y)
        weights.grad, bias.grad = zt @ error + 2 * DECAY * weights, error.sum(dim=0)
        return loss

    optimizer.step(closure)
    return lambda new: prepared(new) @ weights + bias


def _last_value(x, y, classes):
    """The naive forecast: each window's last value of the forecast column (channel 0), which is in the target's
    scaling already (data/series.py scales the target as that column)."""
    return lambda new: new[:, -1, :1]


# Per task: name -> Baseline. The names are metrics.json's keys under `baselines`.
BASELINES: dict[str, dict[str, Baseline]] = {
    "regression": {"mean": Baseline("the training mean", _mean, reads=False),
                   "linear": Baseline("least squares", _least_squares),
                   "trees": Baseline("gradient-boosted trees", fit_trees, extra="trees")},
    "classification": {"majority": Baseline("the majority class", _majority, reads=False),
                       "logistic": Baseline("logistic regression", _logistic, sparse=True, subsampled=True),
                       "trees": Baseline("gradient-boosted trees", fit_trees, extra="trees")},
    "series": {"naive": Baseline("the naive forecast (the last value carried forward)", _last_value, flat=False),
               "linear": Baseline("linear autoregression", _least_squares)},
}


@dataclass
class BaselineScores:
    """Each baseline's test metrics (same keys as the network's), and what was said about fitting them."""

    metrics: dict[str, dict[str, float]]
    notes: list[str]
    seconds: float


def kind(data: Dataset) -> str:
    """The row of BASELINES a run's data takes: series, regression or classification."""
    return "series" if data.forecast is not None else data.task


def _cells(baseline: Baseline, x: torch.Tensor, width: int | None) -> int:
    """The cells a baseline's fit reads: none for the mean and the majority; the nonzero ones where it keeps them
    sparse (token ids, bag and tf-idf counts); else rows x features."""
    if not baseline.reads:
        return 0
    if baseline.sparse and (not x.is_floating_point() or _sparse(x.reshape(len(x), -1)) is not None):
        return int(torch.count_nonzero(x))
    return len(x) * (width or x[0].numel())


def run_baselines(data: Dataset, loss_fn: nn.Module, metrics: list, trained_s: float | None = None) -> BaselineScores:
    """Fit every baseline of the data's kind on the training split, score each on the test split.

    trained_s: the network's training time; a baseline whose library is not imported yet is fitted only when
    importing it (trees.IMPORT_S) is a small share of that (None: no budget, as for evaluate)."""
    start, results, notes = time.perf_counter(), {}, []
    width = data.info.vocabulary
    n = len(data.train)
    take = torch.linspace(0, n - 1, min(n, FIT_ROWS), device=data.train.x.device).long() if n > FIT_ROWS else None
    with torch.no_grad():
        for name, baseline in BASELINES[kind(data)].items():
            if baseline.extra and not fits_a_table(baseline.label, baseline.extra, data, notes, trained_s):
                continue
            x, y = data.train.x, data.train.y
            features = (lambda part: _features(part, width)) if baseline.flat else (lambda part: part)
            if baseline.flat and take is not None and (baseline.subsampled or _cells(baseline, x, width) > FIT_CELLS):
                x, y = x[take], y[take]
                notes.append(f"{baseline.label}: fitted on {len(take):,} of the {n:,} training samples")
            if baseline.flat and _cells(baseline, x, width) > FIT_CELLS:
                notes.append(f"{baseline.label}: not fitted ({width or x[0].numel():,} features per sample are too "
                             "many)")
                continue
            model = baseline.fit(features(x), y, data.target_size if data.task == "classification" else 0)
            predicted = torch.cat([model(features(part)) for part in data.test.x.split(4096)])
            results[name] = scores(predicted.float(), data.test, loss_fn, data.task, metrics, data.target_scale)
    return BaselineScores(results, notes, time.perf_counter() - start)
