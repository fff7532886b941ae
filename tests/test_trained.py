"""Using a trained run: every shipped pipeline trains briefly, then predict, evaluate and export (each format)
agree with the run's own test-set predictions and metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import dlpipe
from dlpipe.data.sources import load_data
from dlpipe.trained import export
from dlpipe.trained.export import raw_scale

from conftest import PIPELINES

SHARED = Path(os.environ.get("DLPIPE_DATA", "../shared/data"))
SMALL_IMAGES = ["data.limit=300", "data.validation=500", "training.epochs=1"]  # the 10,000 test images stay
QUICK = {"sine": ["training.epochs=5"], "cubic": ["training.epochs=5"], "linear": ["training.epochs=5"],
         "init_demo": ["training.epochs=3"], "iris": ["training.epochs=10"], "breast_cancer": ["training.epochs=5"], "diabetes": ["training.epochs=10"], "houses": ["training.epochs=10"], "default": ["training.epochs=5"],
         "mnist": SMALL_IMAGES, "mnist_cnn": SMALL_IMAGES, "mnist_cnn_fast": SMALL_IMAGES, "mnist_fast": SMALL_IMAGES, "spam": ["training.epochs=1"], "spam_sequence": ["training.epochs=1", "data.text.length=100"], "elnino": ["training.epochs=10"], "fashion_mnist": SMALL_IMAGES, "cifar10_cnn": SMALL_IMAGES}
NEEDS = {"mnist": SHARED / "mnist", "mnist_cnn": SHARED / "mnist", "mnist_fast": SHARED / "mnist",
         "mnist_cnn_fast": SHARED / "mnist",
         "spam": SHARED / "spamassassin", "spam_sequence": SHARED / "spamassassin", "fashion_mnist": Path("/usr/share/datasets/fashion-mnist"),
         "cifar10_cnn": SHARED / "cifar10"}


def available(name: str) -> bool:
    folder = NEEDS.get(name)
    return folder is None or (folder.is_dir() and any(folder.iterdir()))


def raw_test(model, data) -> tuple[object, np.ndarray]:
    """The test split back as raw inputs (rows, arrays or 0..255 pixels) and the run's own predictions on it."""
    mean, std = raw_scale(model.preprocessing)
    x = data.test.x[:2000]  # (MNIST's 10,000 through a CNN several times would dominate the suite)
    raw = x.numpy() if model.preprocessing.sequence else (x * std + mean).numpy()  # (ids are raw)
    out = model.outputs(x)
    own = (np.asarray(model.classes, dtype=object)[out.argmax(1).numpy()] if model.task == "classification"
           else model.preprocessing.targets_out(out.numpy())[:, 0])
    if model.preprocessing.kind == "images":
        raw = np.rint(raw).astype(np.uint8)
    if model.preprocessing.kind == "table":
        raw = table_cells(model.preprocessing, raw, data)
    return raw, own


def table_cells(prep, raw: np.ndarray, data) -> dict:
    """Each column's cells from the unscaled inputs: a number, the category its one-hot inputs name, or the text as
    read (token ids or counts are no text)."""
    cells, at = {}, 0
    for column in prep.columns:
        width = len(column.inputs)
        if column.kind == "text":
            cells[column.name] = np.asarray(data.test_text[column.name][:2000], dtype=object)
        elif column.kind == "categorical":
            cells[column.name] = np.asarray(column.categories, dtype=object)[raw[:, at:at + width].argmax(1)]
        else:
            cells[column.name] = raw[:, at]
        at += width
    return cells


IMAGES = [p for p in PIPELINES if p.stem in NEEDS]  # (tests/test_trained_images.py: another xdist worker)


@pytest.mark.parametrize("path", [p for p in PIPELINES if p not in IMAGES], ids=lambda p: p.stem)
def test_every_shipped_pipeline_predicts_evaluates_and_exports(cli, tmp_path, path):
    use_a_trained_run(cli, tmp_path, path)


def use_a_trained_run(cli, tmp_path: Path, path: Path) -> None:
    """Train briefly, then check predict (API and command), evaluate and the three exports against the run."""
    if not available(path.stem):
        pytest.skip(f"{path.stem}: its data set is not on this machine")
    out = tmp_path / "out"
    result = cli("run", path, "--out", out, "-q", *[a for s in QUICK[path.stem] for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    run_dir = next(out.glob("*/*/model.pt")).parent
    recorded = json.loads((run_dir / "metrics.json").read_text())
    from dlpipe.engine.baselines import BASELINES  # every run is set against the baselines of its kind

    table = recorded["data"].get("features") is not None and all(f["kind"] != "text" for f in recorded["data"]["features"])
    expected = {name for name, b in BASELINES[recorded["data"]["baselines"]["kind"]].items() if table or not b.extra}
    assert set(recorded["baselines"]) == expected  # (the trees: a baseline of tables, with scikit-learn)
    model = dlpipe.load(run_dir)
    data = load_data(model.pipeline.data, model.pipeline.seed)
    raw, own = raw_test(model, data)

    predicted = model.predict(raw)  # the Python API, from raw inputs
    assert (predicted == own).all() if model.task == "classification" else np.allclose(predicted, own, rtol=1e-5,
                                                                                        atol=1e-5)
    if model.preprocessing.kind == "table":
        import pandas as pd

        pd.DataFrame(raw).assign(row_id=np.arange(len(own))).to_csv(tmp_path / "in.csv", index=False)
        source = tmp_path / "in.csv"
    else:
        np.save(tmp_path / "in.npy", raw)
        source = tmp_path / "in.npy"
    done = cli("predict", run_dir, source, "-o", tmp_path / "pred.json")  # the command, from a file
    assert done.exit_code == 0, done.output
    rows = json.loads((tmp_path / "pred.json").read_text())
    key = "prediction" if model.task == "classification" else model.preprocessing.target or "prediction"
    got = np.array([r[key] for r in rows])
    assert (got == own).all() if model.task == "classification" else np.allclose(got, own, rtol=1e-5, atol=1e-4)
    if model.preprocessing.kind == "table":
        assert [r["row_id"] for r in rows[:3]] == [0, 1, 2]  # other columns pass through

    evaluated = cli("evaluate", run_dir)
    assert evaluated.exit_code == 0, evaluated.output
    stored = json.loads(next((run_dir / "evaluations").glob("*/metrics.json")).read_text())["metrics"]
    assert stored == pytest.approx(recorded["test"], rel=1e-5, abs=1e-6)
    exported = cli("export", run_dir, "--format", "onnx")  # the command (it reads the test split itself) ...
    assert exported.exit_code == 0 and "verified on the test samples" in exported.output, exported.output
    for fmt in ("torchscript", "safetensors"):  # ... and the same function from Python
        export.export_run(model, fmt)
    with pytest.warns(DeprecationWarning):  # torch.jit.load: deprecated upstream, still the way to load TorchScript
        scripted = torch.jit.load(str(run_dir / "exports" / "model.torchscript.pt"))
    prep = model.preprocessing
    if prep.text is not None:  # the exported model takes the encoded text (preprocessing.json says how to make it)
        inputs = torch.as_tensor(prep.table_inputs(raw)[0])
    elif prep.kind == "table" and any(c.kind == "categorical" for c in prep.columns):  # one-hot goes in as it is
        mean, std = raw_scale(prep)
        inputs = data.test.x[:2000] * std + mean
    else:
        inputs = torch.as_tensor(np.stack(list(raw.values()), 1) if isinstance(raw, dict) else raw).float()
    with torch.inference_mode():
        logits = scripted(inputs)
    exported_pred = (np.asarray(model.classes, dtype=object)[logits.argmax(1).numpy()] if model.task == "classification"
                     else logits[:, 0].numpy())
    agree = (exported_pred == own).mean() if model.task == "classification" else float(np.allclose(exported_pred, own,
                                                                                                   rtol=1e-4, atol=1e-4))
    assert agree >= 0.999  # (a tie between two classes may break either way)
    info = json.loads((run_dir / "exports" / "preprocessing.json").read_text())
    assert set(info["export"]["files"]) == {"torchscript", "safetensors", "onnx"}
    assert info["export"]["input"]["shape"] == ["batch", *model.preprocessing.sample_shape]
