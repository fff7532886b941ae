"""The baseline a practitioner would pick for a table: gradient-boosted trees (scikit-learn, the `trees` extra).

scikit-learn is imported only when a table run has it installed and `fits_a_table` says the trees
apply (a table's inputs, few classes, a run long enough to pay for the import); dlpipe itself
never needs it.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import torch

TREE_FEATURES = 500  # a table's inputs beyond which the trees are not fitted (a wide text table: the logistic fit)
TREE_CLASSES = 50  # classes beyond which they are not (each round grows one tree per class)
IMPORT_S = 1.3  # seconds `import sklearn.ensemble` takes in a process that has torch (measured: 1.1-1.3 s) ...
IMPORT_SHARE = 0.25  # ... fitted when that is at most this share of the network's training time


def dense(x: torch.Tensor):
    """x as a dense float NumPy array (CSR features densified: a table's inputs are few)."""
    return (x.to_dense() if x.layout == torch.sparse_csr else x).float().cpu().numpy()


def fit_trees(x: torch.Tensor, y: torch.Tensor, classes: int):
    """scikit-learn's histogram gradient boosting on a table's inputs, with its defaults (100 rounds; early stopping
    on its own 10 % beyond 10,000 rows); a function from inputs to the network's units (log-probabilities over
    `classes`, or standardized values when classes is 0)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x, y = dense(x), y.cpu().numpy()
    if classes:
        model = HistGradientBoostingClassifier(random_state=0).fit(x, y)
        present = torch.as_tensor(model.classes_, dtype=torch.long)

        def scores(new):  # log-probabilities over every class the network knows (absent ones: none)
            out = torch.full((len(new), classes), math.log(1.0e-6))
            probabilities = torch.from_numpy(model.predict_proba(dense(new))).float()
            out[:, present] = probabilities.clamp_min(1.0e-6).log()
            return out
        return scores
    model = HistGradientBoostingRegressor(random_state=0).fit(x, y.reshape(len(y), -1)[:, 0])
    return lambda new: torch.from_numpy(model.predict(dense(new))).float()[:, None]


def fits_a_table(label: str, extra: str, data, notes: list[str], trained_s: float | None = None) -> bool:
    """Whether a baseline of tables applies: a table's inputs, at most TREE_FEATURES wide, of at most TREE_CLASSES
    classes, its extra installed, and (where scikit-learn is not imported yet) a network that trained long enough
    for the import to be a small share of the run; each refusal but the first is a note."""
    if data.preprocessing is None or data.preprocessing.kind != "table" or data.train.x.dim() != 2 or \
            data.train.x.shape[1] > TREE_FEATURES or not data.train.x.is_floating_point():
        return False
    if data.task == "classification" and data.target_size > TREE_CLASSES:  # a tree per class and round
        notes.append(f"{label}: not fitted ({data.target_size:,} classes; they grow a tree per class and "
                     f"round, beyond {TREE_CLASSES} too slow for a baseline)")
        return False
    if importlib.util.find_spec("sklearn") is None:
        notes.append(f"{label}: not fitted (pip install 'dlpipe[{extra}]' adds them)")
        return False
    if trained_s is not None and "sklearn.ensemble" not in sys.modules and trained_s * IMPORT_SHARE < IMPORT_S:
        notes.append(f"{label}: not fitted (the network trained in {trained_s:.1f} s, and importing "
                     f"scikit-learn alone takes about {IMPORT_S:.1f} s; they are fitted beside runs of "
                     f"{IMPORT_S / IMPORT_SHARE:.0f} s or more, and by dlpipe evaluate)")
        return False
    return True
