"""Connecting the app to the selected network in the background, with the status shown.

wallet.network does the work (starting the embedded devnet, checking the chain id); this
module only runs it off the GUI thread and publishes the result as `ctx.chain`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ui.context import AppContext
from wallet import network as networks

log = logging.getLogger(__name__)

EMBEDDED = networks.EMBEDDED


@dataclass
class Chain:
    """A checked connection: the network (resolved URL, chain id, contracts) and its Web3."""

    network: Any  # wallet.network.Network
    w3: Any  # web3.Web3

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def chain_id(self) -> int:
        return int(self.network.chain_id)


def selected_network(ctx: AppContext) -> Any:
    return networks.current_network(ctx.store)


def describe(network: Any) -> str:
    if network.is_embedded:
        return f"Embedded network (chain {network.chain_id})"
    return f"{network.name} (chain {network.chain_id})"


def connect(ctx: AppContext, on_done: Any = None, on_failure: Any = None) -> None:
    """Start/reach the current network in a worker; ctx.chain follows on the GUI thread."""
    store, home = ctx.store, ctx.home
    current = selected_network(ctx)
    ctx.chain = None
    ctx.network.set("busy", "Starting the embedded network…" if current.is_embedded
                    else f"Connecting to {current.rpc_url}…")

    def work(_task: Any) -> Chain:
        network, w3 = networks.open_current(store, home, start_devnet=True)
        w3.eth.block_number  # noqa: B018 - a first real answer, off the GUI thread
        return Chain(network, w3)

    def done(chain: Chain) -> None:
        ctx.chain = chain
        ctx.network.set("ok", describe(chain.network))
        ctx.events.notify("network")
        if on_done:
            on_done(chain)

    def failed(message: str) -> None:
        ctx.network.set("error", message)
        if on_failure:
            on_failure(message)

    ctx.runner.run(work, on_success=done, on_failure=failed)


def use(ctx: AppContext, name_or_url: str, chain_id: int | None = None,
        on_done: Any = None, on_failure: Any = None) -> None:
    """Select a network (by name or URL, with the expected chain id) and connect to it; another
    home's devnet (a Quarry devnet) gives its contracts and faucet (`discover`)."""
    store = ctx.store

    def work(_task: Any) -> Any:
        return networks.use_network(store, name_or_url, chain_id, discover=True)

    ctx.runner.run(work, on_success=lambda _n: connect(ctx, on_done, on_failure),
                   on_failure=on_failure)


def bounty_client(ctx: AppContext) -> Any:
    """A wallet.bounties.BountyClient for the connected network, or None before connecting."""
    chain = ctx.chain
    if chain is None or not chain.network.board:
        return None
    from wallet.bounties import BountyClient

    # file:// URIs in bounties come from strangers: read them only inside the data home
    # (where the embedded network and its demo practitioner keep their blobs).
    return BountyClient(chain.w3, chain.network.board, chain.chain_id, ctx.store, chain.name,
                        file_roots=[ctx.home], known_tokens=[chain.network.token or ""])
