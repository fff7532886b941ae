"""The sweep stage: hyperparameter searches whose trials are ordinary runs (Optuna, an install extra)."""
