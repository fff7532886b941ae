"""The baseline a practitioner would pick for a table: gradient-boosted trees (scikit-learn, the `trees` extra).

Imported only when a table run has scikit-learn installed (engine/baselines.py decides); dlpipe
itself never needs it.
"""

from __future__ import annotations

import math

import torch


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
