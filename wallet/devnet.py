"""The embedded network: a persistent py-evm chain served as JSON-RPC on 127.0.0.1.

`quarry devnet` runs it in the foreground; `ensure_running(home)` starts it detached when
nothing answers. Plugins (entry point group "quarry.devnet") get a DevnetContext once the
server is up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 18545
CHAIN_ID = 1337
PLUGIN_GROUP = "quarry.devnet"


@dataclass
class DevnetContext:
    """What a devnet plugin (e.g. the demo practitioner) gets when the devnet is serving."""

    home: Path  # the devnet directory (<data home>/devnet)
    rpc_url: str
    chain_id: int
    token: str  # QuarryToken address (EIP-55)
    board: str  # BountyBoard address (EIP-55)
    first_start: bool  # True when this run created the chain and deployed the contracts
    practitioner_key: str  # hex private key of a devnet-funded account (ETH and QDT)
    stop: threading.Event = field(default_factory=threading.Event)  # set when shutting down
