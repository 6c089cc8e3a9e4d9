"""User-facing errors.

Every error meant for a person derives from QuarryError; its str() is one clear line that
the CLI prints (without a traceback) and the GUI shows in a message box. QuarryError is the
wallet's branch of `common.errors.UserError`, the base shared with trainer/ and devnet/.
"""

from common.errors import UserError


class QuarryError(UserError):
    """An error whose message is fit to show to the user as-is."""


class InvalidInput(QuarryError):
    """Something the user or a file gave us is malformed."""


class BlobTooLarge(InvalidInput):
    """A fetched blob, proof or opening is larger than its limit (refused while reading):
    served padded, it is the server's doing, not a fetch that may succeed later."""


class WrongPassword(QuarryError):
    """The password does not decrypt the keystore."""


class WalletLocked(QuarryError):
    """An operation needs the wallet to be unlocked."""


class NotFound(QuarryError):
    """An account, bounty, file or other named thing does not exist."""


class NothingToClaim(NotFound):
    """An account has nothing claimable: an answer, not a failure (`quarry claim` exits 0)."""


class NetworkError(QuarryError):
    """The RPC node is down, answers garbage, or is on the wrong chain."""


class TransactionFailed(QuarryError):
    """A transaction reverted or could not be sent; the message says why."""
