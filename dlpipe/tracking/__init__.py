"""Experiment trackers a run is also logged to (MLflow, TensorBoard): below the runner, above the report."""
