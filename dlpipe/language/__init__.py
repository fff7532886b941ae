"""The pipeline language: config models, the YAML loader, FILE:LINE:COL errors and the JSON Schema.

Nothing in this package imports torch (a test checks it), so reading, checking the
syntax of and describing a pipeline stays fast.
"""
