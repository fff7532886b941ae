"""Using a trained run of each shipped MLP that reads a downloaded data set (MNIST, spam; Fashion-MNIST where present)."""

from __future__ import annotations

import pytest

from test_trained import IMAGES, available, use_a_trained_run


@pytest.mark.parametrize("path", [p for p in IMAGES if not p.stem.endswith("_cnn")], ids=lambda p: p.stem)
def test_every_shipped_image_mlp_predicts_evaluates_and_exports(cli, tmp_path, path):
    if not available(path.stem):
        pytest.skip(f"{path.stem}: its data set is not on this machine")
    use_a_trained_run(cli, tmp_path, path)
