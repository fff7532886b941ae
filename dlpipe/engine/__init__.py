"""The engine: the training loop, evaluation, metrics, loss/optimizer/schedule builders, checkpoints, distributed runs."""
