"""What goes wrong, or is done quietly, when a trained run is used: the exceptions and the warning of the stage."""

from __future__ import annotations


class LoadError(Exception):
    """A run that cannot be used for predictions; the message says why and what to do."""


class InputError(ValueError):
    """Inputs a trained model cannot take; the message says what was received and what is expected."""


class InputNote(UserWarning):
    """Something dlpipe did to new inputs as training did: cells filled, rows left out, an unseen category."""
