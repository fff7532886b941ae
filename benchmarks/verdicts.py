"""The verdict corpus: real learning curves, each with the verdict it should get (benchmarks/advice.py follows the advice).

    DLPIPE_DATA=../shared/data python benchmarks/verdicts.py            # make the corpus, print the verdicts

Each case is a shipped pipeline, as it is or with settings a learner gets wrong (a learning
rate too high or too low, too many epochs, a bad initialisation). Its history.csv and
layers.csv go to tests/fixtures/curves/<case>/ with the test metrics; tests/test_verdicts.py
checks every verdict rule against them (CASES below says which verdict each should get and
why). Following the advice is benchmarks/advice.py's: it applies each verdict's own
suggestion (`verdict.suggest`) on three seeds. tests/fixtures/curves/diamonds_20 came from a
table that is not shipped (its case.json says how it was made).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "curves"
HOUSES = ROOT / "tests" / "fixtures" / "houses.csv"  # 2,000 made-up flats (tests/fixtures/README.md)

# case: (pipeline, --set overrides, the verdict it should get, why; the network verdict it should get)
CASES = {
    "sine": ("sine", [], "good", "the shipped fit: cosine schedule, R^2 0.99", "healthy"),
    "cubic": ("cubic", [], "good", "the shipped fit", "healthy"),
    "linear": ("linear", [], "good", "full-batch gradient descent to the true line", None),
    "init_demo": ("init_demo", [], "noisy", "xavier init, healthy layers; at a constant lr 1e-3 the validation loss "
                  "jumps ~20 % between epochs (a cosine schedule calms it, R^2 0.9901 -> 0.9910)", "healthy"),
    "iris": ("iris", [], "good", "the shipped classifier", "healthy"),
    "breast_cancer": ("breast_cancer", [], "good", "the shipped classifier, stopped before the gap widens", None),
    "diabetes": ("diabetes", [], "good", "a noisy small regression that levels off early", None),
    "mnist": ("mnist", [], "good", "the shipped MLP: still falling a little at the end, but training loss 4x faster "
              "(30 epochs: accuracy 0.9836 against 0.9830, validation loss 45 % higher)", "healthy"),
    "houses_50": ("houses", ["training.epochs=50"], "good",
                  "validation loss level (noisy) since about epoch 8: more epochs do not help (150 epochs: R^2 down)",
                  "healthy"),
    "houses_150": ("houses", ["training.epochs=150"], "overfitting", "validation loss 10 % above its minimum, "
                   "training loss still falling", "healthy"),
    "sine_lr_1": ("sine", ["optimizer.lr=1.0"], "learning rate too high",
                  "lr 1.0 with Adam (usual: up to 3e-3): the loss jumps 2x or more 41 times; the weights grow 100x, "
                  "saturating the tanh units (the lr's fault, not the init's)", "saturated units"),
    "iris_lr_1": ("iris", ["optimizer.lr=1.0"], "learning rate too high", "lr 1.0 with Adam", None),
    "sine_lr_1e-5": ("sine", ["optimizer.lr=1.0e-5", "training.epochs=60"], "learning rate too low",
                     "lr 1e-5: the loss falls a little every epoch, R^2 0.38", None),
    "iris_sgd_1e-4": ("iris", ["optimizer={type: sgd, lr: 1.0e-4}"], "plateau", "SGD at 1e-4: nothing moves", None),
    "sine_short": ("sine", ["training.epochs=15", "scheduler=null"], "noisy",
                   "15 epochs at a constant lr 1e-2: the validation loss jumps 50 % between epochs", None),
    "diabetes_long": ("diabetes", ["training.epochs=600", "model.layers.0.units=256"], "overfitting",
                      "a wide network for 600 epochs on 300 rows", None),
    "init_demo_std1": ("init_demo", ["model.init={weights: normal, std: 1.0}"], "noisy",
                       "normal init with std 1.0: tanh units saturated from epoch 0 (the init's fault), R^2 0.907",
                       "saturated units"),
}


def run(case: str, out: Path) -> Path:
    """One dlpipe run of the case; its run directory."""
    pipeline, sets, *_ = CASES[case]
    path = ROOT / "pipelines" / f"{pipeline}.yaml" if pipeline != "houses" else houses_pipeline(out)
    args = [sys.executable, "-m", "dlpipe", "run", str(path), "--out", str(out / case), "-q"]
    for value in sets:
        args += ["--set", value]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{case}: {done.stderr}")
    return next((out / case).glob("*/*/metrics.json")).parent


def houses_pipeline(out: Path) -> Path:
    """The house-price pipeline the issue reports: a CSV of 2,000 rows, two hidden ReLU layers, Adam 1e-3."""
    path = out / "houses.yaml"
    path.write_text(f"""\
name: houses
seed: 3
data: {{type: csv, path: {HOUSES}, target: price}}
model:
  layers:
    - {{type: linear, units: 64, activation: relu}}
    - {{type: linear, units: 64, activation: relu}}
    - {{type: linear, units: 1}}
optimizer: {{type: adam, lr: 1.0e-3}}
training: {{epochs: 100, batch_size: 32}}
""")
    return path


def keep(case: str, run_dir: Path) -> dict:
    """Copy the case's curves into the fixtures; its metrics and what the verdicts say now."""
    target = FIXTURES / case
    target.mkdir(parents=True, exist_ok=True)
    for name in ("history.csv", "layers.csv"):
        if (run_dir / name).exists():
            shutil.copy(run_dir / name, target / name)
    saved = json.loads((run_dir / "metrics.json").read_text())
    pipeline, sets, expect, why, network = CASES[case]
    from dlpipe.language.loader import load_pipeline

    optimizer = load_pipeline(run_dir / "pipeline.yaml").pipeline.optimizer
    meta = {"pipeline": pipeline, "set": sets, "expect": expect, "why": why, "network": network,
            "usual_lr": list(optimizer.USUAL_LR), "status": saved["status"], "test": saved["test"],
            "verdict": saved.get("verdict"), "network_verdict": (saved.get("network") or {}).get("kind"),
            "network_findings": (saved.get("network") or {}).get("findings")}
    (target / "case.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def headline(meta: dict) -> tuple[str, float]:
    test = meta["test"]
    name = "accuracy" if "accuracy" in test else "r2"
    return name, test[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES), metavar="CASE")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-verdicts-"))
    print(f"{'case':<16} {'should be':<24} {'is':<24} {'network':<16} test")
    for case in args.cases:
        meta = keep(case, run(case, out))
        name, value = headline(meta)
        kind = (meta["verdict"] or {}).get("kind", "")
        print(f"{case:<16} {meta['expect']:<24} {kind:<24} {meta['network_verdict'] or '-':<16} {name} {value:.4f}"
              f"{'' if kind == meta['expect'] else '   <-- differs'}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
