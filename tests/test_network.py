"""Networks: the store's list, selection, chain-id and node-down messages, deployment."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import pytest

from common.artifacts import abi
from devnet.config import CHAIN_ID
from tests.anvil import devnet, devnet_w3, faucet_signer, free_port, start_devnet, store  # noqa: F401 (fixtures)
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
    list_networks,
    open_current,
    use_network,
)


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
