"""Networks: the store's list, selection, chain-id and node-down messages, deployment."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import pytest

from common.artifacts import abi
from devnet.config import CHAIN_ID
from tests.anvil import (  # noqa: F401 (fixtures)
    chain_id_only_node,
    devnet,
    devnet_w3,
    faucet_signer,
    free_port,
    start_devnet,
    store,
)
from wallet.devnet_client import has_faucet, node_contracts
from wallet.errors import InvalidInput, NetworkError, NotFound
from wallet.network import (
    EMBEDDED,
    INITIAL_SUPPLY,
    Network,
    check_address,
    connect,
    current_network,
    deploy_contracts,
    get_network,
    is_loopback_url,
    list_networks,
    open_current,
    use_network,
)
from wallet.store import Store


def test_embedded_is_the_default(store):
    networks = list_networks(store)
    assert [n.name for n in networks] == [EMBEDDED]
    assert current_network(store).is_embedded
    assert current_network(store).chain_id == CHAIN_ID


def test_node_down_gives_one_clear_line(store):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NetworkError) as error:
        connect(Network("down", url, 1, None, None))
    assert str(error.value) == f"Cannot reach the Ethereum node at {url}: connection refused"
    with pytest.raises(NetworkError, match="connection refused"):
        use_network(store, url)  # no --chain-id: the node must answer
    assert current_network(store).is_embedded  # nothing changed


def test_chain_id_mismatch_is_refused(store, devnet):
    network = use_network(store, devnet.url, chain_id=31337)
    assert current_network(store) == network and network.kind == "rpc"
    with pytest.raises(NetworkError) as error:
        connect(network)
    assert str(error.value) == (
        f"The node at {devnet.url} is on chain {CHAIN_ID}, but this network is configured for chain 31337."
    )
    fixed = use_network(store, network.name, chain_id=CHAIN_ID)
    assert connect(fixed).eth.chain_id == CHAIN_ID


def test_use_url_probes_chain_id_and_records_contracts(store, devnet):
    network = use_network(store, devnet.url, token=devnet.token, board=devnet.board.lower())
    assert network.chain_id == CHAIN_ID
    assert network.board == devnet.board  # stored checksummed
    assert get_network(store, network.name) == network
    use_network(store, EMBEDDED)
    assert current_network(store).is_embedded
    assert use_network(store, devnet.url).name == network.name  # same URL, same entry
    with pytest.raises(NotFound):
        get_network(store, "nope")
    with pytest.raises(InvalidInput):
        use_network(store, "ftp://example.org")
    with pytest.raises(InvalidInput):
        use_network(store, EMBEDDED, chain_id=5)


def test_use_fills_the_contracts_a_quarry_devnet_names(store, devnet, tmp_path):
    """Another home's devnet joined by URL: its token, board and faucet come from the node."""
    found = []
    network = use_network(store, devnet.url, verify=True, discover=True, on_discovered=found.append)
    assert (network.token, network.board) == (devnet.token, devnet.board)
    assert network.deploy_block == devnet.deploy_block() and network.kind == "rpc"
    assert found == [{"token": devnet.token, "board": devnet.board}]
    assert get_network(store, network.name) == network and has_faucet(store, network)
    # selected again: what it has is kept, nothing is filled
    assert use_network(store, network.name, verify=True, discover=True, on_discovered=found.append) == network
    assert len(found) == 1

    # an address given by the user wins; only what it lacks comes from the node
    other_board = "0x" + "12" * 20
    with Store(tmp_path / "explicit") as explicit:
        found.clear()
        given = use_network(explicit, devnet.url, board=other_board, verify=True, discover=True,
                            on_discovered=found.append)
        assert (given.token, given.board, given.deploy_block) == (devnet.token, other_board, 0)
        assert found == [{"token": devnet.token}]
    # without `discover` (library callers, --offline) the node is not asked: as before
    with Store(tmp_path / "plain") as plain:
        bare = use_network(plain, devnet.url, verify=True)
        assert (bare.token, bare.board) == (None, None) and not has_faucet(plain, bare)
    # contracts named for another chain are not taken
    assert node_contracts(devnet.url, CHAIN_ID + 1) is None
    assert node_contracts(devnet.url, CHAIN_ID).board == devnet.board


def test_only_a_devnet_on_this_machine_names_the_contracts(store):
    assert is_loopback_url("http://127.0.0.1:18545") and is_loopback_url("http://localhost:8545")
    assert is_loopback_url("http://127.0.1.1:8545") and is_loopback_url("http://[::1]:8545")
    assert not is_loopback_url("http://192.0.2.10:8545") and not is_loopback_url("https://rpc.example.org")
    found = []
    # a node elsewhere is not asked (it could name a lookalike token as the network's own)
    network = use_network(store, "http://192.0.2.10:8545", chain_id=CHAIN_ID, discover=True,
                          on_discovered=found.append)
    assert (network.token, network.board, found) == (None, None, [])
    assert not has_faucet(store, network)


def test_a_node_without_quarry_methods_leaves_the_contracts_unset(store):
    found = []
    with chain_id_only_node(CHAIN_ID) as node:
        network = use_network(store, node.url, chain_id=CHAIN_ID, name="offline")
        assert node.calls == []  # no discovery asked for (`--offline`): the node hears nothing
        network = use_network(store, node.url, verify=True, discover=True, on_discovered=found.append)
        assert node.calls == ["eth_chainId", "quarry_contracts"]
    assert (network.name, network.token, network.board) == ("offline", None, None)
    assert found == [] and not has_faucet(store, network)
    assert node_contracts(node.url, CHAIN_ID) is None  # down now: no contracts, no error


def test_use_names_verification_and_renames(store, devnet):
    with pytest.raises(NotFound) as missing:
        use_network(store, "nosuchname")
    assert str(missing.value) == "No network named 'nosuchname' (known: embedded)."
    with pytest.raises(NetworkError, match="is on chain 1337, but this network is configured for chain 1"):
        use_network(store, devnet.url, chain_id=1, verify=True)
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NetworkError, match="connection refused"):
        use_network(store, down, chain_id=1, verify=True)
    assert [n.name for n in list_networks(store)] == [EMBEDDED]  # nothing saved
    assert current_network(store).is_embedded
    network = use_network(store, devnet.url, name="local", verify=True)
    with pytest.raises(InvalidInput, match="is already the network 'local'"):
        use_network(store, devnet.url, name="other")
    with pytest.raises(InvalidInput, match="already exists"):
        use_network(store, down, chain_id=1, name="local")
    assert use_network(store, "local", verify=True) == network


def test_open_current_resolves_the_running_embedded_network(store, devnet, tmp_path):
    network, w3 = open_current(store, tmp_path / "home", start_devnet=False)
    assert network.rpc_url == devnet.url
    assert (network.token, network.board) == (devnet.token, devnet.board)
    assert w3.eth.chain_id == CHAIN_ID


def test_deploy_records_new_contracts(store, devnet):
    network = use_network(store, devnet.url, name="local-rpc")
    signer = faucet_signer(devnet)
    deployed = deploy_contracts(store, network, connect(network), signer, grace_period=60)
    assert deployed.token and deployed.board and deployed.board != devnet.board
    assert get_network(store, "local-rpc").board == deployed.board
    assert len(devnet_w3(devnet).eth.get_code(deployed.board)) > 100
    # the deployer holds the new token's initial supply (nobody else can mint on anvil/hardhat)
    qdt = devnet_w3(devnet).eth.contract(address=deployed.token, abi=abi("QuarryToken"))
    assert qdt.functions.balanceOf(signer.address).call() == INITIAL_SUPPLY


def test_addresses_must_be_valid_eip55():
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert check_address(good.lower()) == good
    with pytest.raises(InvalidInput, match="checksum"):
        check_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
    with pytest.raises(InvalidInput):
        check_address("0x1234")
    # typed addresses: the same EIP-55 rules (and parser) as keys.parse_address
    assert check_address(good, "recipient", require_checksum=True) == good
    with pytest.raises(InvalidInput) as unchecked:
        check_address(good.lower(), "recipient", require_checksum=True)
    assert str(unchecked.value).startswith(f"The recipient {good.lower()} has no EIP-55 checksum")
    digits_only = "0x" + "12" * 20  # no letters: nothing to checksum, its own EIP-55 form
    assert check_address(digits_only, require_checksum=True) == digits_only


def test_round_text_and_title():
    from wallet.history import round_text, round_title

    assert round_text(0, 6) == "round 0 (1 of 6)"
    assert round_text(2, None) == "round 2"
    assert round_title(0, 6) == "Round 1 of 6"


def test_a_hostile_node_cannot_crash_the_wallet_with_nested_json():
    """web3's json decoding of deep nesting would overflow the C stack (see wallet.jsonsafe)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hostile(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"jsonrpc":"2.0","id":0,"result":' + b"[" * 300_000 + b"]" * 300_000 + b"}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(NetworkError, match="nested deeper"):
            connect(Network("hostile", url, 1, None, None))
    finally:
        server.shutdown()
        server.server_close()
