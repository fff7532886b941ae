"""What the report shows beyond the metrics: learned values, fit curves, confusions, mistakes.

Each function takes the trained model and the data and returns plain values
(numbers, lists, numpy arrays) so the report stage never touches torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlpipe.data.targets import imbalance, imbalance_note
from dlpipe.data.dataset import Dataset
from dlpipe.engine.evaluate import predict
from dlpipe.engine.metrics import confusion_matrix, per_class_scores
from dlpipe.engine.threshold import decide
from dlpipe.language.data import LinearData
from dlpipe.language.pipeline import Pipeline
from dlpipe.report.fits import ClassReport, FitCurve, Predictions
from dlpipe.report.forecast import Forecast

MAX_SCATTER = 2000  # points per split in the regression plot; more only hides the curves
MAX_EXAMPLES = 24  # misclassified images shown
TOP_CONFUSIONS = 8
MAX_MATRIX = 30  # classes drawn as a matrix with numbers; beyond, a bounded image and files beside the report


def data_facts(data: Dataset, task_reason: str, split=None) -> dict:
    """What the report and `runs show` say about the data: why this task, the split's sizes (and the fold, under
    K-fold: split is the data section's split), the features, the target's scale, notes."""
    prep = data.preprocessing
    facts = {"task_reason": task_reason, "notes": list(data.notes),
             "sizes": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}}
    if split is not None and split.folds is not None:
        facts["fold"] = {"index": split.fold, "of": split.folds}
    if data.task == "classification" and data.classes:
        found = imbalance(data.train.y.cpu().numpy(), tuple(data.classes))
        if found is not None:
            facts["imbalance"] = found
            facts["notes"].insert(0, imbalance_note(found))
    if prep is not None and prep.kind == "table":
        became = {c["name"]: c["became"] for c in data.columns or []}
        facts["features"] = [{"name": c.name, "kind": c.kind, "mean": c.mean, "std": c.std,
                              "categories": list(c.categories), "became": became.get(c.name, "")}
                             for c in prep.columns]
        facts["target"] = prep.target
        if data.unseen:
            facts["unseen"] = dict(data.unseen)
    if prep is not None and prep.target_scale != (0.0, 1.0):
        facts["target_scale"] = list(prep.target_scale)
    if data.text:
        facts["text"] = dict(data.text)
    if prep is not None and prep.kind == "images":
        facts["images"] = {"classes": list(data.classes), "shape": list(data.sample_shape),
                           "train": len(data.train), "validation": len(data.validation), "test": len(data.test)}
    if prep is not None and prep.kind == "series":
        n_train, n_val, n_test = data.forecast["split"]
        facts["target"] = prep.target
        facts["series"] = {"columns": [c.name for c in prep.columns], "window": prep.window, "horizon": prep.horizon,
                           "gap": data.forecast["gap"], "train": n_train, "validation": n_val, "test": n_test,
                           "test_from": data.forecast["times"][0], "test_to": data.forecast["times"][-1],
                           "time": prep.time}
    return facts


def training_notes(pipeline: Pipeline, classes, train_loss: nn.Module | None, model: nn.Module) -> list[str]:
    """What class weights, balanced sampling and gradient accumulation do, said in the terminal and the report."""
    shift = ("they shift the predicted probabilities toward the rarer classes (the calibration section shows how "
             "far)")
    notes = []
    if train_loss is not None:
        weights = ", ".join(f"{name} {w:.3g}" for name, w in zip(classes, train_loss.weight.tolist()))
        how = pipeline.loss.class_weights if isinstance(pipeline.loss.class_weights, str) else "given"
        notes.append(f"class weights ({how}) in the training loss: {weights}; the validation and test loss are "
                     f"unweighted; {shift}")
    if pipeline.training.sampling == "balanced":
        notes.append(f"balanced sampling: each epoch draws the training rows with replacement so that every class "
                     f"comes up as often; validation and test are not resampled; {shift}")
    batch, times = pipeline.training.batch_size, pipeline.training.accumulate
    if times > 1:
        norms = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        notes.append(f"gradient accumulation: each step sums the gradients of {times} batches of {batch}, an "
                     f"effective batch of {batch * times}; the schedule steps once per effective batch" +
                     (f"; batch norm normalizes each batch of {batch}, not the {batch * times}: its statistics are "
                      f"noisier than one batch of {batch * times} would give" if norms else ""))
    return notes


def learned_parameters(model: nn.Sequential, pipeline: Pipeline) -> list[dict]:
    """Every parameter of a tiny model by name; for y = w x + b, compared with the true w and b."""
    first = model[0]
    if len(model) == 1 and isinstance(first, nn.Linear) and first.weight.shape == (1, 1):
        values = {"w": first.weight.item(), "b": first.bias.item() if first.bias is not None else 0.0}
        truth = {"w": pipeline.data.w, "b": pipeline.data.b} if isinstance(pipeline.data, LinearData) else {}
        return [_learned(name, value, truth.get(name)) for name, value in values.items()]
    if sum(p.numel() for p in model.parameters()) > 20:
        return []
    return [_learned(f"{name}{list(index)}", float(value), None)
            for name, tensor in model.named_parameters()
            for index, value in np.ndenumerate(tensor.detach().cpu().numpy())]


def _learned(name: str, value: float, true: float | None) -> dict:
    error = abs(value - true) / abs(true) * 100 if true else None
    return {"name": name, "value": value, "true": true, "error_pct": error}


def regression_curve(model: nn.Module, data: Dataset) -> FitCurve | None:
    """Samples, true function and prediction on a grid, for 1-D regression only."""
    if data.task != "regression" or data.sample_shape != (1,) or data.info.x_range is None:
        return None
    rng = np.random.default_rng(0)
    points = {}
    for name in ("train", "validation", "test"):
        split = getattr(data, name)
        keep = rng.permutation(len(split))[:MAX_SCATTER]
        points[name] = (split.x[keep, 0].cpu().numpy(), split.y[keep, 0].cpu().numpy())
    grid = np.linspace(*data.info.x_range, 400, dtype=np.float32)
    prediction = predict(model, torch.from_numpy(grid[:, None]).to(data.train.x.device))[:, 0].cpu().numpy()
    truth = data.info.true_function(grid) if data.info.true_function else None
    return FitCurve(points, grid, truth, prediction)


def predicted_vs_true(model: nn.Module, data: Dataset, outputs: torch.Tensor | None = None) -> Predictions | None:
    """Test predictions and true values of a one-output regression, in the target's own units.

    outputs: the model's outputs on the test split when already computed (one pass, not two).
    """
    if data.task != "regression" or data.target_size != 1:
        return None
    mean, std = data.target_scale
    outputs = predict(model, data.test.x) if outputs is None else outputs
    predicted = outputs.float()[:, 0].cpu().numpy() * std + mean
    true = data.test.y[:, 0].float().cpu().numpy() * std + mean
    target = data.preprocessing.target if data.preprocessing is not None and data.preprocessing.target else "y"
    return Predictions(true, predicted, target)


def class_report(model: nn.Module, data: Dataset, outputs: torch.Tensor | None = None,
                 threshold: tuple[int, float] | None = None) -> ClassReport | None:
    """The classifier's behaviour on the test split, its classes decided at `threshold`; None for regressions
    (outputs: as for predicted_vs_true)."""
    if data.task != "classification":
        return None
    outputs = predict(model, data.test.x) if outputs is None else outputs
    probabilities = outputs.float().softmax(dim=1).cpu()
    target = data.test.y.cpu()
    predicted = decide(probabilities.log(), threshold)
    confidence = probabilities.gather(1, predicted[:, None])[:, 0]
    k = len(data.classes)
    # Beyond MAX_MATRIX classes no k x k matrix is made or kept (5,000 classes: 25 M cells, a 3 GB report):
    # the scores and the confusions come from the samples, in O(samples + classes).
    matrix = confusion_matrix(predicted, target, k).numpy() if k <= MAX_MATRIX else None
    scores = per_class_scores(predicted, target, k)
    rows = [{"name": name, **{key: float(v[i]) for key, v in scores.items()}} for i, name in enumerate(data.classes)]
    pairs = confusion_pairs(predicted.numpy(), target.numpy())
    confusions = [(data.classes[t], data.classes[p], int(c)) for t, p, c in pairs[:TOP_CONFUSIONS] if t != p]
    wrong = (predicted != target).nonzero().flatten()
    worst = wrong[confidence[wrong].argsort(descending=True)][:MAX_EXAMPLES] if data.is_image else wrong[:0]
    images = _pixels(data, worst)
    examples = [(images[j], data.classes[target[i]], data.classes[predicted[i]], float(confidence[i]))
                for j, i in enumerate(worst.tolist())]
    maps = saliency(model, data.test.x[worst.to(data.test.x.device)], predicted[worst]) if len(worst) else None
    return ClassReport(data.classes, matrix, rows, confusions, examples, pairs, maps)


def saliency(model: nn.Module, x: torch.Tensor, classes: torch.Tensor) -> list[np.ndarray]:
    """Where each image's predicted-class score is most sensitive: |d score / d pixel|, the largest over the
    channels, scaled by its own 99th percentile, as dark ink on white (uint8). torch.autograd.grad: the
    weights' .grad are left as training left them."""
    training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            inputs = x.detach().clone().requires_grad_(True)
            score = model(inputs).float().gather(1, classes.to(x.device)[:, None]).sum()
            (gradient,) = torch.autograd.grad(score, inputs)
    finally:
        model.train(training)
    strength = gradient.abs().amax(dim=1).cpu()  # (N, H, W)
    top = torch.quantile(strength.reshape(len(strength), -1), 0.99, dim=1).clamp_min(1.0e-12)[:, None, None]
    return [(255 * (1 - (s / t).clamp(0, 1))).round().to(torch.uint8).numpy() for s, t in zip(strength, top)]


def confusion_pairs(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(true, predicted, count) of every pair that happened, mistakes first, most frequent first: a sparse
    confusion matrix, as long as the test split at most."""
    pairs, counts = np.unique(np.stack([target, predicted], axis=1), axis=0, return_counts=True)
    table = np.column_stack([pairs, counts]).astype(np.int64)
    order = np.lexsort((-table[:, 2], table[:, 0] == table[:, 1]))  # mistakes first, then by count
    return table[order]


def _pixels(data: Dataset, index: torch.Tensor) -> list[np.ndarray]:
    """Test images back in 0..255 pixels: (H, W) for grey, (H, W, 3) for colour."""
    if not data.is_image or len(index) == 0:
        return []
    prep = data.preprocessing
    channels = data.sample_shape[0]
    if prep is not None and len(prep.mean) == channels:  # per-channel normalization (colour images)
        mean = torch.tensor(prep.mean).view(1, channels, 1, 1)
        std = torch.tensor(prep.std).view(1, channels, 1, 1)
    else:
        mean, std = data.pixel_mean_std
    pixels = (data.test.x[index.to(data.test.x.device)].cpu() * std + mean).mul(255).round().clamp(0, 255)
    pixels = pixels.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [image[:, :, 0] if image.shape[2] == 1 else image for image in pixels]


def forecast_view(outputs: torch.Tensor, data: Dataset) -> Forecast:
    """The test period of a series in the target's units: truth, the network's forecast, the naive one."""
    mean, std = data.target_scale
    units = [(t.detach().float().cpu()[:, 0].numpy() * std + mean) for t in
             (data.test.y, outputs, data.forecast["naive"])]
    return Forecast(data.preprocessing.target, tuple(data.forecast["times"]), *units)
