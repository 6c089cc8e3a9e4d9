"""The wallet's only door to the embedded network (the top-level `devnet` package).

Finding, starting, stopping and serving a home's devnet, its contracts and its faucet, with
the devnet's errors turned into the wallet's (`NetworkError`), so the CLI and the GUI handle
them like any other node's. Loads no py-evm unless this process serves the chain itself
(`serve`). "Fund a new account once" lives here for both faces.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
    "CHAIN_ID", "DEFAULT_PORT", "FAUCET_ETH", "FAUCET_TOKENS", "FUNDED_SETTING", "contracts",
    "devnet_dir", "ensure_running", "fund_once", "needs_funding", "request_faucet", "running_url", "serve", "stop",
]

FUNDED_SETTING = "faucet_funded"  # networks|boards|addresses the faucet already paid

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


def request_faucet(url: str, address: str) -> None:
    """Ask the devnet's faucet for test ETH and QDT; NetworkError says why it refused (e.g. it
    already funded `address` within the hour)."""
    _call(url, "quarry_faucet", [address], timeout=30)


def _funded_key(network: Network, address: str) -> str:
    return f"{network.rpc_url}|{network.board}|{address}"


def needs_funding(store: Store, network: Network, address: str) -> bool:
    """True for an account of the embedded network the faucet has not been asked for yet."""
    return network.is_embedded and _funded_key(network, address) not in (store.get_setting(FUNDED_SETTING) or [])


def fund_once(store: Store, network: Network, address: str) -> bool:
    """Fund a new account on the embedded network once (remembered in the store); True when
    the faucet paid now. Other networks have no faucet: False."""
    if not needs_funding(store, network, address):
        return False
    key = _funded_key(network, address)
    try:
        request_faucet(network.rpc_url, address)
        paid = True
    except NetworkError as exc:
        if "already funded" not in str(exc):
            raise
        paid = False
    store.set_setting(FUNDED_SETTING, [*(store.get_setting(FUNDED_SETTING) or []), key])
    return paid
