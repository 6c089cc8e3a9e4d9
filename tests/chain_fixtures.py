"""Test helpers for the contracts on py-evm (eth-tester): a web3 with funded unlocked accounts,
deployment of QuarryToken and BountyBoard, time travel, snapshots and revert assertions.

Other test modules may import these: ``from tests.chain_fixtures import Market, new_market``
or use the ``market`` fixture by importing it into their module namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from common.artifacts import abi
from wallet import eip712
from wallet.contracts import deploy, revert_error_name

GRACE_PERIOD = 3 * 24 * 3600  # seconds; BountyBoard's constructor argument in tests
TOKEN_UNIT = 10**18


@dataclass
class Chain:
    """An in-memory py-evm chain with ten funded, unlocked accounts."""

    tester: EthereumTester
    w3: Web3
    accounts: list[str] = field(default_factory=list)

    def next_timestamp(self) -> int:
        """The block.timestamp the next transaction will see (eth-tester auto-mines)."""
        return int(self.tester.get_block_by_number("pending")["timestamp"])

    def travel_to(self, timestamp: int) -> None:
        """Makes the next transaction execute at ``timestamp`` (only forwards)."""
        if timestamp > self.next_timestamp():
            self.tester.time_travel(timestamp)

    def advance(self, seconds: int) -> int:
        """Moves the clock ``seconds`` forward; returns the next transaction's timestamp."""
        self.travel_to(self.next_timestamp() + seconds)
        return self.next_timestamp()

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self.tester.revert_to_snapshot(snapshot_id)


def new_chain() -> Chain:
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    return Chain(tester=tester, w3=w3, accounts=list(w3.eth.accounts))


@dataclass
class Market:
    """A chain with QuarryToken and BountyBoard deployed; ``owner`` owns the token."""

    chain: Chain
    token: Contract
    board: Contract

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    @property
    def owner(self) -> str:
        return self.chain.accounts[0]

    def mint(self, to: str, amount: int) -> None:
        send(self.token.functions.mint(to, amount), self.owner)

    def create_bounty(
        self,
        practitioner: str,
        *,
        reward: int = 100 * TOKEN_UNIT,
        rounds: int = 2,
        duration: int = 3600,
        max_contributors: int = 5,
        spec_hash: bytes = keccak(b"spec"),
        spec_uri: str = "file:///spec.json",
        model_hash: bytes = keccak(b"model-0"),
        model_uri: str = "file:///model-0.bin",
        fund: bool = True,
    ) -> tuple[int, dict]:
        """Mints and approves the escrow (when ``fund``), posts a bounty; returns (id, receipt)."""
        total = reward * rounds
        if fund:
            self.mint(practitioner, total)
            send(self.token.functions.approve(self.board.address, total), practitioner)
        receipt = send(
            self.board.functions.createBounty(
                self.token.address, reward, rounds, duration, max_contributors,
                spec_hash, spec_uri, model_hash, model_uri,
            ),
            practitioner,
        )
        (event,) = self.board.events.BountyCreated().process_receipt(receipt, errors=DISCARD)
        return event["args"]["bountyId"], receipt

    def submit(self, bounty_id: int, round_: int, contributor: str, blob: bytes | None = None) -> dict:
        if blob is None:  # one blob per contributor: the board refuses a hash seen in the round
            blob = f"update/{bounty_id}/{round_}/{contributor}".encode()
        return send(
            self.board.functions.submit(bounty_id, round_, keccak(blob), f"file:///{blob.hex()}"),
            contributor,
        )

    def deadline(self, bounty_id: int, round_: int) -> int:
        return self.board.functions.getRound(bounty_id, round_).call()[0]


def deploy_market(chain: Chain, grace_period: int = GRACE_PERIOD) -> Market:
    owner = chain.accounts[0]
    token_address = deploy(chain.w3, owner, "QuarryToken", owner)
    board_address = deploy(chain.w3, owner, "BountyBoard", grace_period)
    token = chain.w3.eth.contract(address=token_address, abi=abi("QuarryToken"))
    board = chain.w3.eth.contract(address=board_address, abi=abi("BountyBoard"))
    return Market(chain=chain, token=token, board=board)


def new_market(grace_period: int = GRACE_PERIOD) -> Market:
    return deploy_market(new_chain(), grace_period)


def send(function_call: Any, sender: str) -> dict:
    """Sends a contract call from an unlocked account; returns the (successful) receipt."""
    w3 = function_call.w3
    tx_hash = function_call.transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"transaction reverted: {receipt}"
    return receipt


def expect_revert(error_name: str, function_call: Any, sender: str) -> Exception:
    """Asserts that sending ``function_call`` reverts with the custom error ``error_name``."""
    with pytest.raises((ContractLogicError, TransactionFailed)) as info:
        function_call.transact({"from": sender})
    assert revert_error_name(info.value) == error_name, f"reverted with {info.value!r}"
    return info.value


def funded_signer(chain: Chain, eth: int = 10) -> LocalAccount:
    """A fresh local key holding ``eth`` ETH (0 for a gasless user)."""
    account = Account.create()
    if eth:
        receipt = chain.w3.eth.wait_for_transaction_receipt(
            chain.w3.eth.send_transaction(
                {"from": chain.accounts[0], "to": account.address, "value": eth * 10**18}
            )
        )
        assert receipt["status"] == 1
    return account


def sign_submission(
    signer: LocalAccount, board: Contract, bounty_id: int, round_: int, blob_hash: bytes,
    uri: str, deadline: int,
) -> bytes:
    """The EIP-712 ``Submission`` signature for ``submitWithSignature``, as a wallet makes it."""
    domain = eip712.domain(board.w3.eth.chain_id, board.address)
    message = {
        "bountyId": bounty_id, "round": round_, "blobHash": blob_hash, "uri": uri,
        "contributor": signer.address, "deadline": deadline,
    }
    return bytes(signer.sign_typed_data(domain, eip712.SUBMISSION_TYPES, message).signature)


@pytest.fixture(scope="module")
def _module_market() -> Iterator[tuple[Market, Any]]:
    market = new_market()
    yield market, market.chain.snapshot()


@pytest.fixture
def market(_module_market: tuple[Market, Any]) -> Iterator[Market]:
    """Token and board deployed once per module; each test starts from that clean state."""
    market_, snapshot_id = _module_market
    market_.chain.revert(snapshot_id)
    yield market_
    market_.chain.revert(snapshot_id)



TEST_ARTIFACTS_DIR = Path(__file__).resolve().parents[1] / "resources/contracts/build/testing"


def deploy_test_contract(chain: Chain, name: str, *args: Any) -> Contract:
    """Deploys a test double from resources/contracts/build/testing (never shipped to users)."""
    artifact = json.loads((TEST_ARTIFACTS_DIR / f"{name}.json").read_text())
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": chain.accounts[0]})
    )
    assert receipt["status"] == 1
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
