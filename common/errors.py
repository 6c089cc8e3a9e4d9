"""The one base of the errors meant for people.

`wallet.errors.QuarryError`, `trainer.errors.TrainerError` and `devnet.errors.DevnetError`
derive from `UserError`: its str() is a message fit to show as-is. The CLIs print it as one
`error:` line and the GUI shows it; any other exception is a bug and is logged.
"""


class UserError(Exception):
    """An error whose message is fit to show to the user as-is."""


class ArtifactError(UserError):
    """A compiled contract artifact is missing or unreadable (a broken installation)."""
