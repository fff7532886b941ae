"""Using what was trained: load a run's model, predict, evaluate, export, and the Python API."""
