"""Networks: the embedded devnet (default) and any Ethereum JSON-RPC URL, kept in the store.

A network is a name, an RPC URL, the chain id the user expects, and the addresses of
QuarryToken and BountyBoard on it. `connect()` returns a Web3 only after the node answered
and its chain id matched, with one clear message otherwise.

The `networks` table is this module's; its schema, like every table's, is in wallet/store.py's
migrations.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from trainer import jsonsafe
from wallet.errors import InvalidInput, NetworkError, NotFound

if TYPE_CHECKING:
    from web3 import Web3

    from wallet.store import Store

# web3, requests and eth-utils are imported where used (web3 alone takes most of a second):
# the GUI's first window and the CLI's offline commands read networks without reaching one.

EMBEDDED = "embedded"
KIND_EMBEDDED = "embedded"
KIND_RPC = "rpc"
CURRENT_SETTING = "network"
RPC_TIMEOUT_SECONDS = 15
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class Network:
    name: str
    rpc_url: str
    chain_id: int
    token: str | None  # QuarryToken (or another reward ERC-20) address, EIP-55
    board: str | None  # BountyBoard address, EIP-55
    kind: str = KIND_RPC
    deploy_block: int = 0  # no board event is older: history scans start here

    @property
    def is_embedded(self) -> bool:
        return self.kind == KIND_EMBEDDED

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "rpc_url": self.rpc_url, "chain_id": self.chain_id,
            "token": self.token, "board": self.board, "kind": self.kind,
            "deploy_block": self.deploy_block,
        }


# -- the list of networks ----------------------------------------------------------------------


def _row_to_network(row: dict[str, Any]) -> Network:
    return Network(
        name=row["name"], rpc_url=row["rpc_url"], chain_id=int(row["chain_id"]),
        token=row.get("token") or None, board=row.get("board") or None,
        kind=row.get("kind") or KIND_RPC, deploy_block=int(row.get("deploy_block") or 0),
    )


def embedded_placeholder() -> Network:
    """The embedded network before its devnet answered (URL and contracts unknown yet)."""
    from wallet.devnet_client import CHAIN_ID, DEFAULT_PORT

    return Network(EMBEDDED, f"http://127.0.0.1:{DEFAULT_PORT}", CHAIN_ID, None, None, KIND_EMBEDDED)


def list_networks(store: Store) -> list[Network]:
    """The embedded network first, then the RPC networks by name."""
    rows = [_row_to_network(row) for row in store.db.query("SELECT * FROM networks ORDER BY name")]
    embedded = [n for n in rows if n.name == EMBEDDED] or [embedded_placeholder()]
    return embedded + [n for n in rows if n.name != EMBEDDED]


def get_network(store: Store, name: str) -> Network:
    for network in list_networks(store):
        if network.name == name:
            return network
    raise NotFound(f"No network named {name!r}; `quarry network list` shows them.")


def current_network(store: Store) -> Network:
    name = store.get_setting(CURRENT_SETTING) or EMBEDDED
    try:
        return get_network(store, name)
    except NotFound:
        return get_network(store, EMBEDDED)


def save_network(store: Store, network: Network) -> None:
    store.db["networks"].upsert(network.as_dict(), pk="name")


def check_address(value: str, what: str = "address", *, require_checksum: bool = False) -> str:
    """An address in EIP-55 form. Mixed case must checksum; all-lower/upper-case hex (no
    checksum to check) is accepted only without `require_checksum`: addresses a person
    typed or pasted are checked with it, so that a typo cannot send money astray.
    The checksum itself is checked by keys.parse_address, the one EIP-55 parser."""
    from eth_utils import is_hex_address, to_checksum_address

    from wallet.keys import parse_address

    if not isinstance(value, str) or not is_hex_address(value.strip()):
        raise InvalidInput(f"Not an Ethereum address ({what}): {value!r}")
    value = value.strip()
    if not value.startswith("0x"):
        value = "0x" + value
    body = value[2:]
    if (body == body.lower() or body == body.upper()) and not require_checksum:
        return to_checksum_address(value)  # no checksum to check (an address from a program)
    try:
        return parse_address(value)
    except InvalidInput as exc:
        raise InvalidInput(f"The {what} {exc}") from None


def check_rpc_url(url: str) -> str:
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"Not an HTTP(S) JSON-RPC URL: {url!r}")
    return url.strip()


def use_network(
    store: Store,
    name_or_url: str,
    chain_id: int | None = None,
    token: str | None = None,
    board: str | None = None,
    name: str | None = None,
    *,
    verify: bool = False,
    discover: bool = False,
    on_discovered: Callable[[dict[str, str]], None] | None = None,
) -> Network:
    """Select a known network by name, or add one by URL, and make it the current one.

    For a new URL without --chain-id, the node is asked for its chain id (it must answer).
    With `verify`, an RPC network is selected only once its node answered with the expected
    chain id (NetworkError otherwise, and nothing is saved).

    With `discover`, an RPC network on this machine (`is_loopback_url`) whose node is a Quarry
    devnet (another home's embedded network: it answers `quarry_contracts` for this chain id) takes the token and board it
    lacks from the node (`token`/`board` given here, or kept from before, win), and its
    faucet is recorded (wallet.devnet_client.has_faucet); `on_discovered` is called with
    what was filled ({"token": ADDRESS, "board": ADDRESS}, either or both). Any other node
    leaves the network as it was.
    """
    if chain_id is not None and chain_id <= 0:
        raise InvalidInput(f"Not a chain id: {chain_id}")
    token = check_address(token, "token address") if token else None
    board = check_address(board, "bounty board address") if board else None
    known = {n.name: n for n in list_networks(store)}
    if name_or_url in known:
        network = known[name_or_url]
        if network.is_embedded and (chain_id or token or board):
            raise InvalidInput("The embedded network's chain id and contracts are fixed.")
    elif "://" not in name_or_url:  # not URL-shaped: a name that is not there
        raise NotFound(f"No network named {name_or_url!r} (known: {', '.join(known)}).")
    else:
        url = check_rpc_url(name_or_url)
        same_url = [n for n in known.values() if n.rpc_url == url and not n.is_embedded]
        if same_url:
            network = same_url[0]
        else:
            if chain_id is None:
                chain_id = probe_chain_id(url)
            network_name = name or (urlparse(url).netloc or url)
            if not _NAME.match(network_name):
                raise InvalidInput(f"Not a usable network name: {network_name!r}")
            if network_name in known:
                raise InvalidInput(f"A network named {network_name!r} already exists (at "
                                   f"{known[network_name].rpc_url}); choose another name.")
            network = Network(network_name, url, chain_id, None, None, KIND_RPC)
    if name is not None and name != network.name:
        # a network has one name: renaming would orphan its history and cache rows
        raise InvalidInput(f"{network.rpc_url} is already the network {network.name!r}; "
                           f"select it by that name (it cannot also be called {name!r}).")
    if not network.is_embedded:
        network = replace(
            network,
            chain_id=chain_id or network.chain_id,
            token=token or network.token,
            board=board or network.board,
        )
        if verify:
            check_chain(web3_for(network.rpc_url), network.rpc_url, network.chain_id)
        if discover:
            network, filled = _fill_from_node(store, network, forget=verify)
            if filled and on_discovered is not None:
                on_discovered(filled)
        save_network(store, network)
    store.set_setting(CURRENT_SETTING, network.name)
    return network


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fill_from_node(store: Store, network: Network, forget: bool) -> tuple[Network, dict[str, str]]:
    """The RPC network with the token and board it lacks taken from its node, when that is a
    Quarry devnet on the network's chain, and what was filled. The node's faucet is recorded;
    with `forget` (the node answered eth_chainId just now) a node that is no longer a devnet
    loses its record."""
    from wallet import devnet_client

    if not is_loopback_url(network.rpc_url):
        # a node elsewhere could name a lookalike token as the network's own (then never
        # marked "unverified"): only this machine's devnets are asked; others take --token/--board
        return network, {}
    found = devnet_client.node_contracts(network.rpc_url, network.chain_id)
    if found is None:
        if forget:
            devnet_client.remember_faucet(store, network, present=False)
        return network, {}
    devnet_client.remember_faucet(store, network)
    filled = {key: getattr(found, key) for key in ("token", "board") if not getattr(network, key)}
    network = replace(network, **filled)
    if network.board == found.board and not network.deploy_block:
        network = replace(network, deploy_block=found.deploy_block)  # history scans start there
    return network, filled


def record_contracts(store: Store, network: Network, token: str, board: str,
                     deploy_block: int = 0) -> Network:
    updated = replace(network, token=check_address(token), board=check_address(board),
                      deploy_block=deploy_block)
    save_network(store, updated)
    return updated


# -- reaching a node ---------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ReadTimeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "Name or service not known" in text or "getaddrinfo" in text or "resolve" in text:
            return "unknown host"
        return "connection failed"
    return str(exc) or type(exc).__name__


@functools.cache
def _guarded_provider() -> type:
    """web3's HTTPProvider, but an answer nested deeper than jsonsafe.MAX_DEPTH is refused
    before decoding: a hostile node could otherwise crash the wallet (see trainer.jsonsafe).
    Made on first use, so that importing this module does not import web3."""
    from web3 import Web3

    class GuardedHTTPProvider(Web3.HTTPProvider):
        @staticmethod
        def decode_rpc_response(raw_response: bytes) -> Any:
            if jsonsafe.nesting_depth(raw_response) > jsonsafe.MAX_DEPTH:
                raise ValueError(f"the answer is JSON nested deeper than {jsonsafe.MAX_DEPTH} levels")
            return Web3.HTTPProvider.decode_rpc_response(raw_response)

    return GuardedHTTPProvider


def web3_for(url: str, timeout: float = RPC_TIMEOUT_SECONDS) -> Web3:
    from web3 import Web3

    return Web3(_guarded_provider()(url, request_kwargs={"timeout": timeout}))


def node_chain_id(w3: Web3, url: str) -> int:
    """The node's eth_chainId, or NetworkError saying why it could not be read."""
    import requests

    try:
        return int(w3.eth.chain_id)
    except (requests.exceptions.RequestException, OSError) as exc:
        raise NetworkError(f"Cannot reach the Ethereum node at {url}: {_describe(exc)}") from exc
    except Exception as exc:  # garbage answers surface as many web3 exception types
        raise NetworkError(f"The node at {url} did not answer eth_chainId properly: {exc}") from exc


def probe_chain_id(url: str) -> int:
    return node_chain_id(web3_for(check_rpc_url(url)), url)


def check_chain(w3: Web3, url: str, expected_chain_id: int) -> None:
    actual = node_chain_id(w3, url)
    if actual != expected_chain_id:
        raise NetworkError(
            f"The node at {url} is on chain {actual}, but this network is configured for chain "
            f"{expected_chain_id}."
        )


def connect(network: Network, timeout: float = RPC_TIMEOUT_SECONDS) -> Web3:
    """A Web3 for `network` once its node answered with the configured chain id."""
    w3 = web3_for(network.rpc_url, timeout)
    check_chain(w3, network.rpc_url, network.chain_id)
    return w3


def resolve_embedded(
    store: Store, home: str | os.PathLike[str] | None = None, start: bool = True,
    on_start: Callable[[str], None] | None = None,
) -> Network:
    """The embedded network with its live URL and contracts (starting the devnet if asked;
    `on_start(url)` is called when this call started it)."""
    from wallet import devnet_client

    url = devnet_client.ensure_running(home, on_start=on_start) if start else devnet_client.running_url(home)
    if url is None:
        raise NetworkError("The embedded network is not running; start it with `quarry devnet`.")
    contracts = devnet_client.contracts(url)
    network = Network(
        EMBEDDED, url, int(contracts["chainId"]), contracts["token"], contracts["board"], KIND_EMBEDDED,
        deploy_block=int(contracts.get("deployBlock") or 0),
    )
    save_network(store, network)
    return network


def open_current(
    store: Store, home: str | os.PathLike[str] | None = None, start_devnet: bool = True,
    on_devnet_start: Callable[[str], None] | None = None,
) -> tuple[Network, Web3]:
    """The current network (resolved when embedded) and a checked Web3 for it."""
    network = current_network(store)
    if network.is_embedded:
        network = resolve_embedded(store, home, start=start_devnet, on_start=on_devnet_start)
    return network, connect(network)


INITIAL_SUPPLY = 1_000_000 * 10**18  # QDT minted to the deployer of a new QuarryToken


def deploy_contracts(store: Store, network: Network, w3: Web3, signer: Any,
                     grace_period: int = 3 * 24 * 3600, initial_supply: int = INITIAL_SUPPLY) -> Network:
    """Deploy QuarryToken (owned by the signer) and BountyBoard, record their addresses, and
    mint `initial_supply` QDT to the signer: on anvil or hardhat nobody else could mint any,
    and a practitioner needs QDT to post a bounty."""
    from common.artifacts import abi
    from wallet.contracts import deploy
    from wallet.tx import transact

    if network.is_embedded:
        raise InvalidInput("The embedded network deploys its own contracts.")
    check_chain(w3, network.rpc_url, network.chain_id)
    # the contracts are mined after the current head: no history to scan before it
    before = int(w3.eth.block_number)
    token = deploy(w3, signer, "QuarryToken", signer.address, expected_chain_id=network.chain_id)
    board = deploy(w3, signer, "BountyBoard", grace_period, expected_chain_id=network.chain_id)
    network = record_contracts(store, network, token, board, deploy_block=before)
    if initial_supply > 0:
        qdt = w3.eth.contract(address=token, abi=abi("QuarryToken"))
        transact(w3, signer, qdt.functions.mint(signer.address, initial_supply),
                 expected_chain_id=network.chain_id, store=store, network=network.name,
                 description="mint the initial QDT supply to the deployer")
    return network
