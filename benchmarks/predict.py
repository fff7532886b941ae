"""How fast a trained model answers: `dlpipe predict` on the 10,000 MNIST test images, the API's first answer.

    DLPIPE_DATA=../shared/data python benchmarks/predict.py [--repeats 3]

Trains pipelines/mnist.yaml (1 epoch) and pipelines/iris.yaml once into a temporary archive, then
prints, each the median of --repeats fresh processes unless said otherwise:
  - `dlpipe predict RUN test_images.npy -o out.npy` wall, end to end (target <= 3 s);
  - inference throughput inside it: TrainedModel.outputs against a bare torch.inference_mode() loop
    over the same batches, in one process, alternating (target >= 0.9x);
  - `python -c "import dlpipe"` (target <= 0.15 s) and `dlpipe.load(run)` + predicting one row (<= 2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # installed: bytecode is cached


def wall(args: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, check=True, env=ENV, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(run_dir: Path, images: np.ndarray, rounds: int = 5) -> tuple[float, float]:
    """Seconds for all images: the model's outputs() against a bare inference loop (medians, alternating)."""
    import torch

    import dlpipe
    from dlpipe.trained.inputs import model_inputs

    model = dlpipe.load(run_dir)
    x = model_inputs(model.preprocessing, images)
    net = model.torch_module.eval()

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, len(x), 1000):
                net(x[i:i + 1000])

    ours, theirs = [], []
    for _ in range(rounds):
        for action, times in ((lambda: model.outputs(x), ours), (bare, theirs)):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-predict-bench-"))
    dlpipe_cmd = [sys.executable, "-c", "import sys; from dlpipe.cli import main; sys.argv[0] = 'dlpipe'; main()"]
    for name, sets in (("mnist", ["training.epochs=1"]), ("iris", [])):
        subprocess.run([*dlpipe_cmd, "run", str(ROOT / "pipelines" / f"{name}.yaml"), "--out", str(out), "-q",
                        *[a for s in sets for a in ("--set", s)]], check=True, env=ENV, capture_output=True)
    from dlpipe.data.idx import MNIST, read_arrays
    from dlpipe.data.download import locate

    images = read_arrays(locate(MNIST, None, False), MNIST)["test_images"]
    np.save(out / "test_images.npy", images)
    mnist_run = next(out.glob("mnist/*/model.pt")).parent
    predict_s = wall([*dlpipe_cmd, "predict", str(mnist_run), str(out / "test_images.npy"), "-o", str(out / "p.npy")],
                     args.repeats)
    ours, bare = throughput(mnist_run, images)
    import_s = wall([sys.executable, "-c", "import dlpipe"], args.repeats)
    baseline_s = wall([sys.executable, "-c", "pass"], args.repeats)
    iris_run = next(out.glob("iris/*/model.pt")).parent
    first = ("import dlpipe; m = dlpipe.load(%r); m.predict({'sepal_length_cm': [5.1], 'sepal_width_cm': [3.5], "
             "'petal_length_cm': [1.4], 'petal_width_cm': [0.2]})" % str(iris_run))
    first_s = wall([sys.executable, "-c", first], args.repeats)
    print(f"dlpipe predict, 10,000 MNIST test images (.npy -> .npy), wall: {predict_s:.2f} s   (target <= 3 s)")
    print(f"inference inside it: {ours * 1000:.1f} ms, bare torch loop {bare * 1000:.1f} ms: "
          f"{bare / ours:.2f}x   (target >= 0.9x)")
    print(f"python -c 'import dlpipe': {import_s:.3f} s (python -c pass: {baseline_s:.3f} s)   (target <= 0.15 s)")
    print(f"dlpipe.load(iris run) + one row predicted, fresh process: {first_s:.2f} s   (target <= 2 s)")


if __name__ == "__main__":
    main()
