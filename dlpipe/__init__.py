"""dlpipe: a YAML file is the experiment; dlpipe trains it and archives a report."""

__version__ = "0.1.0"
