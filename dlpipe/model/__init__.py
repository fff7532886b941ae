"""The model stage: layer builders, shape inference, the summary, and the static checks run before training."""
