"""The wallet's only door to the embedded network (the top-level `devnet` package).

Finding, starting, stopping and serving a home's devnet, its contracts and its faucet, with
the devnet's errors turned into the wallet's (`NetworkError`), so the CLI and the GUI handle
them like any other node's. Loads no py-evm unless this process serves the chain itself
(`serve`). "Fund a new account once" lives here for both faces.

Another home's devnet, joined as an RPC network (`quarry network use http://127.0.0.1:PORT`),
is a Quarry devnet too: `node_contracts` reads its contracts, and its faucet, once recorded
(`remember_faucet`), funds new accounts as the embedded network's does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devnet import launcher
from devnet.config import CHAIN_ID, DEFAULT_PORT, FAUCET_ETH, FAUCET_TOKENS
from devnet.errors import DevnetError
from devnet.server_info import devnet_dir
from wallet.errors import NetworkError

if TYPE_CHECKING:
    from wallet.network import Network
    from wallet.store import Store

__all__ = [
    "CHAIN_ID", "DEFAULT_PORT", "FAUCET_ETH", "FAUCET_NETWORKS_SETTING", "FAUCET_TOKENS", "FUNDED_SETTING",
    "NodeContracts", "ask_faucet", "contracts", "devnet_dir", "ensure_running", "fund_once", "has_faucet",
    "needs_funding", "node_contracts", "remember_faucet", "request_faucet", "running_url", "serve", "stop",
]

FUNDED_SETTING = "faucet_funded"  # networks|boards|addresses the faucet already paid
FAUCET_NETWORKS_SETTING = "faucet_networks"  # RPC URLs whose node is a Quarry devnet (it has a faucet)

Home = str | os.PathLike[str] | None


def running_url(home: Home = None) -> str | None:
    """The URL of the devnet serving this home, if one answers as that devnet."""
    return launcher.running_url(home)


def ensure_running(home: Home = None, on_start: Callable[[str], None] | None = None) -> str:
    """This home's devnet URL, starting it detached (with its plugins) if none answers."""
    try:
        return launcher.ensure_running(home, on_start=on_start)
    except DevnetError as exc:
        raise NetworkError(str(exc)) from exc


def stop(home: Home = None) -> str | None:
    """Stop this home's devnet; its URL, or None when none was running."""
    try:
        return launcher.stop_running(home)
    except DevnetError as exc:
        raise NetworkError(str(exc)) from exc


def serve(home: Home, port: int | None, plugins: bool = True,
          announce: Callable[[str], Any] = print) -> None:
    """Run this home's devnet in the foreground (`quarry devnet`) until interrupted."""
    try:
        launcher.serve_forever(home, port, plugins=plugins, announce=announce)
    except DevnetError as exc:
        raise NetworkError(str(exc)) from exc


def _call(url: str, method: str, params: list[Any] | None = None, timeout: float = 5) -> Any:
    try:
        return launcher.rpc_request(url, method, params, timeout=timeout)
    except DevnetError as exc:
        raise NetworkError(str(exc)) from exc


def contracts(url: str) -> dict[str, Any]:
    """{"token", "board", "chainId", "deployBlock"} of the devnet at `url`."""
    answer = _call(url, "quarry_contracts")
    if not isinstance(answer, dict):
        raise NetworkError(f"The embedded network at {url} did not name its contracts.")
    return answer


@dataclass(frozen=True)
class NodeContracts:
    """What a Quarry devnet names over `quarry_contracts` (addresses EIP-55)."""

    token: str
    board: str
    deploy_block: int = 0


def node_contracts(url: str, chain_id: int) -> NodeContracts | None:
    """The contracts of the Quarry devnet at `url` when it answers `quarry_contracts` for
    `chain_id`; None from any other node (anvil, a public node: the method is not there), a
    node that is down, or an answer that is not two addresses on that chain."""
    from eth_utils import is_hex_address, to_checksum_address

    try:
        answer = contracts(url)
    except NetworkError:
        return None
    if answer.get("chainId") != chain_id:
        return None
    token, board = answer.get("token"), answer.get("board")
    if not all(isinstance(a, str) and a.startswith("0x") and is_hex_address(a) for a in (token, board)):
        return None
    block = answer.get("deployBlock")
    deploy_block = block if isinstance(block, int) and not isinstance(block, bool) and block >= 0 else 0
    return NodeContracts(to_checksum_address(token), to_checksum_address(board), deploy_block)


def request_faucet(url: str, address: str) -> dict[str, Any]:
    """Ask the devnet's faucet for test ETH and QDT; NetworkError says why it refused (e.g. it
    already funded `address` within the hour). Its answer: amounts (hex) and transactions."""
    answer = _call(url, "quarry_faucet", [address], timeout=30)
    return answer if isinstance(answer, dict) else {}


def has_faucet(store: Store, network: Network) -> bool:
    """The embedded network, or an RPC network whose node was found to be a Quarry devnet."""
    return network.is_embedded or network.rpc_url in (store.get_setting(FAUCET_NETWORKS_SETTING) or [])


def remember_faucet(store: Store, network: Network, present: bool = True) -> None:
    """Record whether the RPC network's node has a faucet (is a Quarry devnet)."""
    if network.is_embedded:
        return
    urls = [u for u in store.get_setting(FAUCET_NETWORKS_SETTING) or [] if u != network.rpc_url]
    store.set_setting(FAUCET_NETWORKS_SETTING, urls + [network.rpc_url] if present else urls)


def _funded_key(network: Network, address: str) -> str:
    return f"{network.rpc_url}|{network.board}|{address}"


def _remember_funded(store: Store, network: Network, address: str) -> None:
    funded = store.get_setting(FUNDED_SETTING) or []
    key = _funded_key(network, address)
    if key not in funded:
        store.set_setting(FUNDED_SETTING, [*funded, key])


def needs_funding(store: Store, network: Network, address: str) -> bool:
    """True for an account of a network with a faucet (the embedded one, or another home's
    devnet joined by URL) the faucet has not been asked for yet."""
    return has_faucet(store, network) and _funded_key(network, address) not in (
        store.get_setting(FUNDED_SETTING) or [])


def fund_once(store: Store, network: Network, address: str) -> bool:
    """Fund a new account on a network with a faucet once (remembered in the store); True
    when the faucet paid now. Networks without a faucet: False."""
    if not needs_funding(store, network, address):
        return False
    try:
        request_faucet(network.rpc_url, address)
        paid = True
    except NetworkError as exc:
        if "already funded" not in str(exc):
            raise
        paid = False
    _remember_funded(store, network, address)
    return paid


def _units(value: Any, default: int) -> int:
    try:
        units = int(value, 16) if isinstance(value, str) else default
    except ValueError:
        return default
    return units if units >= 0 else default


def ask_faucet(store: Store, network: Network, address: str) -> tuple[int, int]:
    """Ask the network's faucet for `address` now, whether or not it paid before (`quarry
    network faucet`, the app's "Get test funds"); the (ETH, QDT) units it sent. NetworkError
    with one clear line when the network has no faucet or the faucet refused (e.g. it already
    funded `address` within the hour)."""
    if not has_faucet(store, network):
        if node_contracts(network.rpc_url, network.chain_id) is None:
            raise NetworkError(
                f"The network {network.name} has no faucet: its node at {network.rpc_url} is not a "
                "Quarry devnet (it does not answer quarry_contracts or quarry_faucet). Ask whoever "
                "runs it for test ETH and tokens.")
        remember_faucet(store, network)  # added --offline, say: it is a devnet after all
    answer = request_faucet(network.rpc_url, address)
    _remember_funded(store, network, address)
    return _units(answer.get("eth"), FAUCET_ETH), _units(answer.get("tokens"), FAUCET_TOKENS)
