"""The peer harness (benchmarks/peers.py) trains the sine in Lightning and Keras as dlpipe does, and fits it.

The peer table itself is a benchmark (python benchmarks/run.py --peers); this proves the
contenders it times really train the same model: a few epochs, and R^2 well above zero.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("peer", ["lightning", "keras"])
def test_a_peer_trains_the_shipped_sine_and_reports_its_epochs(peer):
    if importlib.util.find_spec(peer) is None:  # not imported here: keras would pick its backend at import
        pytest.skip(f"{peer} is not installed: pip install -e '.[bench]' (also in [dev])")
    done = subprocess.run([sys.executable, "benchmarks/peers.py", peer, "sine", "40"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["epoch_ends"]) == 40 and result["train_samples"] == 700
    assert result["epoch_ends"] == sorted(result["epoch_ends"])
    assert result["r2"] > 0.8  # the same tanh MLP, Adam 1e-2 and cosine schedule learn the sine in 40 epochs
