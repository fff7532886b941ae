"""The data stage: one module per source family, the SOURCES registry, downloads, and the Dataset handed on."""
