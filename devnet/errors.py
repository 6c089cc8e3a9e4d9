"""Errors of the embedded network meant for people (`common.errors.UserError`).

The wallet's client (`wallet/devnet_client.py`) turns them into the wallet's own errors, so
nothing above the wallet needs to know this package.
"""

from common.errors import UserError


class DevnetError(UserError):
    """The devnet cannot start (port taken, already running, damaged files) or stop."""


class DevnetUnreachable(DevnetError):
    """No devnet answers at a URL, or it refused a request."""
