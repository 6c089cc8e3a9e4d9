"""The embedded network's faucet: test ETH and QDT for a new account, rate-limited.

Called over JSON-RPC as `quarry_faucet` (the wallet funds a new account once). Payments come
from the devnet-held deployer key; at most one per address per interval, and at most
`payments_per_interval` in all, so a loop over fresh addresses cannot drain it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from eth_utils import is_hex_address, to_canonical_address, to_checksum_address

from devnet.chain import ChainError
from devnet.config import (
    FAUCET_ETH,
    FAUCET_INTERVAL_SECONDS,
    FAUCET_PAYMENTS_PER_INTERVAL,
    FAUCET_RESERVE_ETH,
    FAUCET_TOKENS,
)

if TYPE_CHECKING:
    from devnet.node import Devnet


class Faucet:
    """Pays from the node's deployer; `payments_per_interval` is a knob for tests."""

    def __init__(self, node: Devnet) -> None:
        self.node = node
        self.payments_per_interval = FAUCET_PAYMENTS_PER_INTERVAL

    def pay(self, address: Any) -> dict[str, Any]:
        """Send test ETH and mint QDT to `address`, at most once per address per interval."""
        if not isinstance(address, str) or not is_hex_address(address):
            raise ChainError(f"invalid address: {address!r}", code=-32602)
        address = to_checksum_address(address)
        node = self.node
        with node.lock:
            last = node.chain.get_meta(f"faucet:{address}")
            now = time.time()
            if last is not None and now - float(last) < FAUCET_INTERVAL_SECONDS:
                minutes = int((FAUCET_INTERVAL_SECONDS - (now - float(last))) // 60) + 1
                raise ChainError(
                    f"The faucet already funded {address}; try again in {minutes} minutes.", code=-32005
                )
            recent = node.chain.count_meta_since("faucet:", now - FAUCET_INTERVAL_SECONDS)
            if recent >= self.payments_per_interval:
                raise ChainError(
                    f"The faucet has paid {recent} accounts in the last hour, its limit; try again later.",
                    code=-32005,
                )
            deployer = to_canonical_address(node.deployer.address)
            if node.chain.balance(deployer, "pending") < FAUCET_ETH + FAUCET_RESERVE_ETH:
                raise ChainError("The faucet is empty.", code=-32005)
            eth_tx = node.send_internal(node.deployer, address, b"", FAUCET_ETH)
            token_tx = node.mint(address, FAUCET_TOKENS)
            node.chain.set_meta(f"faucet:{address}", repr(now))
        node.wait_mined(token_tx)
        return {
            "eth": hex(FAUCET_ETH),
            "tokens": hex(FAUCET_TOKENS),
            "ethTx": "0x" + eth_tx.hex(),
            "tokenTx": "0x" + token_tx.hex(),
        }
