"""End to end over anvil, every party its own process.

The practitioner (keygen, serve, post, evaluate, finalize through `quarry-practitioner`)
and four data owners (`quarry train`, each with its own home and key; one without ETH who
submits gasless through the inbox's relay; one a free rider who submits an encrypted zero
update from a small script) go through two rounds. Checked: the
free rider earns 0 and the honest owners more than 0; the final model's accuracy is within
five points of training the same model on all their data centrally (the owners use the
wallet's default, row-level DP-SGD); and every byte the
inbox received from the owners is an encrypted update blob or a hash: no raw feature value
of the owners' CSVs appears in them, as text or as float64.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from web3 import Web3

from common.artifacts import abi
from tests.anvil import ANVIL_KEY_0, free_port, start_anvil
from trainer.data import load_data
from trainer.models import model_from_bytes, model_from_spec
from trainer.spec import BountySpec
from trainer.train import train_local
from trainer.update_blob import parse_blob
from wallet.contracts import deploy
from wallet.network import use_network
from wallet.store import Store
from wallet.vault import Vault

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
PYTHON = sys.executable
PASSWORD = "correct horse battery staple"
OWNER_FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv", "breast_cancer_owner_c.csv"]
ROUND_SECONDS = 600
GASLESS_OWNER = 1

# The free rider: fetches the spec and the round's model like a wallet, then encrypts an
# all-zero update with the trainer's own functions and submits it directly.
FREE_RIDER = r"""
import sys
import numpy as np
from eth_account import Account
from web3 import Web3
from trainer.spec import BountySpec
from trainer.update import LocalUpdate, encrypt_to_blob
from wallet.blob_store import blob_hash, fetch_blob, upload_blob
from wallet.bounties import BountyClient
rpc, board, key, bounty_id = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
w3 = Web3(Web3.HTTPProvider(rpc))
client = BountyClient(w3, board, w3.eth.chain_id, file_roots=None)
bounty = client.bounty(bounty_id)
spec = BountySpec.from_json_bytes(fetch_blob(bounty.spec_uri, bounty.spec_hash, file_roots=None))
n_params = spec.n_features + 1
blob = encrypt_to_blob(spec, bounty_id, bounty.current_round, LocalUpdate(np.zeros(n_params), 100))
owner = Account.from_key(key)
# commit first, upload after: the inbox stores only blobs committed on chain
uri = spec.inbox_url.rstrip("/") + "/blobs/" + blob_hash(blob)
client.submit(owner, bounty_id, blob_hash(blob), uri, round_=bounty.current_round)
assert upload_blob(spec.inbox_url, blob, contributor=owner.address) == uri
print(blob_hash(blob))
"""


def _run(args: list[str], **kwargs) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, env=_env(), **kwargs)
    assert result.returncode == 0, f"{args[:4]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("QUARRY_SCRYPT_N", "4096")
    return env


def _rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def _pass_deadline(url: str) -> None:
    _rpc(url, "evm_increaseTime", [ROUND_SECONDS + 1])
    _rpc(url, "evm_mine", [])


def _wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"inbox exited: {process.stderr.read() if process.stderr else ''}")
        try:
            urllib.request.urlopen(url + "/blobs/0x" + "00" * 32, timeout=1)
        except urllib.error.HTTPError:
            return  # 404: it answers
        except OSError:
            time.sleep(0.2)
    pytest.fail("the inbox did not start")


def _csv_values(path: Path) -> list[str]:
    with path.open() as handle:
        rows = list(csv.reader(handle))[1:]
    return [cell for row in rows for cell in row[:-1]]


def test_market_end_to_end_over_anvil(tmp_path):
    with start_anvil() as url:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        deployer = Account.from_key(ANVIL_KEY_0)
        token = deploy(w3, deployer, "QuarryToken", deployer.address)
        board = deploy(w3, deployer, "BountyBoard", 3 * 24 * 3600)
        token_contract = w3.eth.contract(address=token, abi=abi("QuarryToken"))
        tx = token_contract.functions.mint(deployer.address, 10**24).transact({"from": deployer.address})
        w3.eth.wait_for_transaction_receipt(tx)

        # -- the practitioner ------------------------------------------------------------
        practitioner_home = tmp_path / "practitioner"
        (tmp_path / "pw").write_text(PASSWORD + "\n")
        (tmp_path / "key").write_text(ANVIL_KEY_0 + "\n")
        chain = ["--rpc", url, "--board", board, "--token", token,
                 "--private-key-file", str(tmp_path / "key"), "--home", str(practitioner_home)]
        cli = [PYTHON, "-m", "practitioner"]
        _run([*cli, "keygen", "--bits", "1024", "--password-file", str(tmp_path / "pw"),
              "--home", str(practitioner_home)])
        port = free_port()
        inbox_url = f"http://127.0.0.1:{port}"
        bodies = tmp_path / "inbox-bodies.bin"
        inbox = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--record-bodies", str(bodies), *chain],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        try:
            _wait_for_http(inbox_url, inbox)
            bounty_id = json.loads(_run([
                *cli, "post", str(DEMO / "breast_cancer_spec.json"),
                "--validation", str(DEMO / "breast_cancer_validation.csv"),
                "--reward", "100", "--rounds", "2", "--round-seconds", str(ROUND_SECONDS),
                "--inbox-url", inbox_url, "--password-file", str(tmp_path / "pw"), "--json", *chain,
            ]))["bountyId"]
            assert bounty_id == 1

            # -- four data owners, each with its own home and key ------------------------
            owners = []
            for i in range(4):
                account = Account.create()
                home = tmp_path / f"owner{i}"
                vault = Vault.load(home)
                vault.import_private_key(account.key, PASSWORD)
                vault.close()
                with Store(home) as store:
                    use_network(store, url, chain_id=31337, token=token, board=board, name="anvil")
                if i != GASLESS_OWNER:  # that one has no ETH and submits through the relay
                    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
                        {"from": deployer.address, "to": account.address, "value": 10**18}))
                owners.append((account, home))
            honest, free_rider = owners[:3], owners[3]

            rejected_honest = 0
            for round_index in range(2):
                trainers = [
                    subprocess.Popen(
                        [PYTHON, "-m", "wallet.cli", "train", str(bounty_id),
                         "--data", str(DEMO / name), "--password-file", str(tmp_path / "pw"),
                         "--home", str(home), "--json",
                         *(["--gasless"] if index == GASLESS_OWNER else [])],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                    )
                    for index, ((account, home), name) in enumerate(zip(honest, OWNER_FILES, strict=True))
                ]
                _run([PYTHON, "-c", FREE_RIDER, url, board, free_rider[0].key.hex(), str(bounty_id)])
                for process in trainers:
                    out, err = process.communicate(timeout=180)
                    assert process.returncode == 0, err
                    answer = json.loads(out)
                    assert answer["round"] == round_index and answer["txHash"].startswith("0x")
                _pass_deadline(url)
                evaluated = json.loads(_run([*cli, "evaluate", str(bounty_id), str(round_index),
                                             "--password-file", str(tmp_path / "pw"), "--json", *chain]))
                reasons = {r["address"].lower(): r["reason"] for r in evaluated["rejected"]}
                assert reasons.pop(free_rider[0].address.lower()) == "zero update (free rider)"
                # The honest owners train with the wallet's default row-level DP-SGD (sigma 2):
                # late in training a round's update can be mostly noise, and the alignment
                # screen may then leave it out (PROTOCOL.md, Privacy, "Measured": on breast
                # cancer honest owners are paid in 98 % of rounds). Nothing else may be.
                assert set(reasons) <= {a.address.lower() for a, _ in honest}, reasons
                assert all(r.startswith("update not aligned") for r in reasons.values()), reasons
                rejected_honest += len(reasons)
                _run([*cli, "finalize", str(bounty_id), str(round_index), *chain])

            status = json.loads(_run([*cli, "status", str(bounty_id), "--json", *chain]))
            assert status["status"] == "completed"

            # -- an owner restores its wallet on another computer: its blobs come back ------
            _account, restored_home = honest[1]
            kept_dir = restored_home / "kept-updates"
            tokens = {p.relative_to(kept_dir): p.read_text() for p in kept_dir.rglob("*.proof-token")}
            assert len(tokens) == 2
            shutil.rmtree(kept_dir)
            recovered = json.loads(_run([PYTHON, "-m", "wallet.cli", "recover-sent", "--password-file",
                                         str(tmp_path / "pw"), "--home", str(restored_home), "--json"]))
            assert [r["status"] for r in recovered] == ["recovered", "recovered"], recovered
            assert {p.relative_to(kept_dir): p.read_text() for p in kept_dir.rglob("*.proof-token")} == tokens
        finally:
            inbox.terminate()
            inbox.wait(timeout=10)

        # -- rewards: the free rider gets nothing, every honest owner something ------------
        board_contract = w3.eth.contract(address=board, abi=abi("BountyBoard"))
        earned = [board_contract.functions.claimable(token, a.address).call() for a, _ in owners]
        assert earned[3] == 0
        if rejected_honest == 0:
            assert all(amount > 0 for amount in earned[:3]), earned
        else:  # a DP-noise rejection costs that owner one round's pay, not the others'
            assert sum(amount > 0 for amount in earned[:3]) >= 2, earned
        assert sum(earned) <= 2 * 100 * 10**18

        # -- the final model against central training on all the owners' data -----------
        bounty = board_contract.functions.getBounty(bounty_id).call()
        spec_blob = (practitioner_home / "practitioner" / "blobs" / ("0x" + bounty[6].hex())).read_bytes()
        spec = BountySpec.from_json_bytes(spec_blob)
        last_round = board_contract.functions.getRound(bounty_id, 1).call()
        report = json.loads((practitioner_home / "practitioner" / "blobs" / ("0x" + last_round[5].hex())).read_bytes())
        final_model = model_from_bytes(
            (practitioner_home / "practitioner" / "blobs" / report["nextModelHash"]).read_bytes(), spec)
        x_val, y_val = load_data([DEMO / "breast_cancer_validation.csv"], spec)
        x_all, y_all = load_data([DEMO / name for name in OWNER_FILES], spec)
        central = model_from_spec(spec)
        train_local(central, x_all, y_all, spec.training, epochs=2 * spec.training.epochs)
        federated_accuracy = final_model.accuracy(x_val, y_val)
        central_accuracy = central.accuracy(x_val, y_val)
        # 2 rounds of averaged local steps against 10 central epochs. Accuracy on these 142 rows
        # moves in steps of 0.7 points. Without noise the federated model ends 3 rows below
        # central (valuation v2 keeps all three updates). The owners train with the wallet's
        # default, row-level DP-SGD (sigma 2, clip 3), which costs 0.7 points on average on
        # breast cancer in benchmarks.privacy and varies with the noise draw of a 2-round run
        # (seen: 5 rows below): 5 points is both costs together.
        assert federated_accuracy >= central_accuracy - 0.05, (federated_accuracy, central_accuracy)
        print(f"\ne2e: federated accuracy {federated_accuracy:.4f}, central {central_accuracy:.4f}, "
              f"earned {[round(e / 10**18, 2) for e in earned]} QDT")

        # -- what reached the practitioner: encrypted blobs and hashes only ---------------
        chunks = _recorded_bodies(bodies.read_bytes())
        recorded = b"\n".join(body for _, _, body in chunks)  # the bodies, not our log lines
        puts = [body for method, _path, body in chunks if method == "PUT"]
        relays = [json.loads(body) for method, path, body in chunks if method == "POST" and path == "/relay"]
        assert len(puts) == 8 and len(relays) == 2  # 4 owners x 2 rounds; one owner gasless
        for body in puts:
            parse_blob(body, expected_public_key=spec.public_key())  # an encrypted update
        for relay in relays:  # hashes, a URI, an address and a signature: nothing else
            assert sorted(relay) == sorted(
                ["bountyId", "round", "blobHash", "uri", "contributor", "deadline", "signature"])
        asked = [json.loads(body) for method, path, body in chunks if method == "POST" and path == "/sent-blobs"]
        assert len(asked) == 2 and all(  # the restored owner's requests: which round, who, until when, signed
            sorted(request) == ["bountyId", "contributor", "deadline", "round", "signature"] for request in asked)
        assert w3.eth.get_balance(owners[GASLESS_OWNER][0].address) == 0
        values = set()
        for name in OWNER_FILES:
            values.update(_csv_values(DEMO / name))
        # Short digit strings turn up by chance in hex hashes and decimal deadlines, so only
        # values that cannot: decimals with a point (never in hex, JSON ints or signatures).
        texts = [v.encode() for v in values if len(v) >= 5 and "." in v]
        assert len(texts) > 1000
        assert not [t for t in texts if t in recorded]
        floats = {float(v) for v in values if float(v) != 0.0}
        patterns = [struct.pack("<d", f) for f in floats] + [struct.pack(">d", f) for f in floats]
        assert not [p for p in patterns if p in recorded]
        # the standardised values the model trained on do not appear either
        standardised = np.unique(np.round(x_all, 12)).tolist()
        assert not [v for v in standardised[:2000] if struct.pack("<d", v) in recorded]


def _recorded_bodies(data: bytes) -> list[tuple[str, str, bytes]]:
    chunks = []
    offset = 0
    while offset < len(data):
        newline = data.index(b"\n", offset)
        _, method, path, length = data[offset:newline].decode().split(" ")
        start = newline + 1
        body = data[start:start + int(length)]
        chunks.append((method, path, body))
        offset = start + int(length) + 1
    return chunks
