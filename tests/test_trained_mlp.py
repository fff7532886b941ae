"""Using a trained run of each shipped MLP that reads a downloaded data set (MNIST, spam; Fashion-MNIST where present)."""

from __future__ import annotations

import pytest

from test_trained import IMAGES, available, use_a_trained_run


# (mnist_cnn_fast: the layer kinds of mnist_fast, which goes through all of it; its own run is benchmarks/cnn_fast.py)
@pytest.mark.parametrize("path", [p for p in IMAGES if not p.stem.endswith(("_cnn", "_cnn_fast"))], ids=lambda p: p.stem)
def test_every_shipped_image_mlp_predicts_evaluates_and_exports(cli, tmp_path, path):
    if not available(path.stem):
        pytest.skip(f"{path.stem}: its data set is not on this machine")
    use_a_trained_run(cli, tmp_path, path)
