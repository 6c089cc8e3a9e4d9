"""Errors raised by trainer/.

Every error meant for a person derives from TrainerError; its str() is a clear message fit to
show as-is (one line, or several lines when one message lists every problem found in a file).
trainer/ does not import wallet/, so these do not derive from wallet.errors.QuarryError; both
derive from `common.errors.UserError`, which the faces catch.
"""

from __future__ import annotations

from common.errors import UserError


class TrainerError(UserError):
    """An error whose message is fit to show to the user as-is."""


class SpecError(TrainerError):
    """The bounty spec is malformed or inconsistent; the message names the field."""


class DataError(TrainerError):
    """The user's data files do not match the spec's schema; the message lists every problem."""


class BlobError(TrainerError):
    """A model or encrypted-update blob is malformed, truncated, too large or for another key."""


class EncodingError(TrainerError):
    """A vector cannot be encoded, packed or decoded with the given encoding parameters."""


class TrainingCancelled(TrainerError):
    """The user cancelled a long-running step (training, encryption)."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
