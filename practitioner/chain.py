"""The practitioner's view of BountyBoard: reads, and the transactions it signs (create, finalize).

A thin layer over the contract ABI (wallet.contracts) and wallet.tx (EIP-1559 signing with
a chain-id check before every signature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from wallet.bounties import Bounty, BountyClient
from wallet.contracts import abi
from wallet.errors import QuarryError, TransactionFailed
from wallet.tx import transact

ROUND_NOT_OPEN, ROUND_OPEN, ROUND_FINALIZED, ROUND_EXPIRED, ROUND_CANCELLED = range(5)
ROUND_STATES = ("not open", "open", "finalized", "expired", "cancelled")


@dataclass(frozen=True)
class RoundInfo:
    deadline: int
    submissions: int
    state: int
    model_hash: str
    model_uri: str
    report_hash: str
    report_uri: str

    @property
    def state_text(self) -> str:
        return ROUND_STATES[self.state] if self.state < len(ROUND_STATES) else str(self.state)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class BoardClient:
    """Bounties, the clock and the grace period are read through the owners' client
    (wallet.bounties: one decoding of the contract's tuples); rounds and submissions in the
    practitioner's shape here."""

    def __init__(self, w3: Web3, board: str, chain_id: int, signer: LocalAccount | None = None):
        self.w3 = w3
        self.chain_id = chain_id
        self.board = w3.eth.contract(address=Web3.to_checksum_address(board), abi=abi("BountyBoard"))
        self.signer = signer
        self._reader = BountyClient(w3, board, chain_id)

    # -- reads ---------------------------------------------------------------------------

    def now(self) -> int:
        return self._reader.now()

    def grace_period(self) -> int:
        return self._reader.grace_period()

    def bounty_count(self) -> int:
        return self._reader.count()

    def bounty(self, bounty_id: int) -> Bounty:
        """The bounty with `status` "open"/"completed"/"cancelled" (NotFound if none)."""
        return self._reader.bounty(bounty_id)

    def round(self, bounty_id: int, round_index: int) -> RoundInfo:
        fields = self.board.functions.getRound(bounty_id, round_index).call()
        return RoundInfo(
            int(fields[0]), int(fields[1]), int(fields[2]), _hex(fields[3]), fields[4],
            _hex(fields[5]), fields[6],
        )

    def submitters(self, bounty_id: int, round_index: int) -> list[str]:
        return list(self.board.functions.getSubmitters(bounty_id, round_index).call())

    def submission(self, bounty_id: int, round_index: int, contributor: str) -> tuple[str, str]:
        blob_hash, uri, _at = self.board.functions.getSubmission(
            bounty_id, round_index, contributor
        ).call()
        return _hex(blob_hash), uri

    # -- transactions --------------------------------------------------------------------

    def _send(self, call: Any, description: str) -> dict[str, Any]:
        if self.signer is None:
            raise QuarryError("No account to sign with; give --account or --private-key-file.")
        return transact(
            self.w3, self.signer, call, expected_chain_id=self.chain_id, kind="practitioner",
            description=description,
        )

    def approve(self, token: str, amount: int) -> None:
        erc20 = self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=abi("QuarryToken"))
        allowance = erc20.functions.allowance(self.signer.address, self.board.address).call()  # type: ignore[union-attr]
        if allowance < amount:
            self._send(erc20.functions.approve(self.board.address, amount), "approve escrow")

    def token_balance(self, token: str, account: str) -> int:
        erc20 = self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=abi("QuarryToken"))
        return int(erc20.functions.balanceOf(account).call())

    def create_bounty(
        self, *, token: str, reward_per_round: int, rounds: int, round_duration: int,
        max_contributors: int, spec_hash: str, spec_uri: str, model_hash: str, model_uri: str,
    ) -> int:
        receipt = self._send(
            self.board.functions.createBounty(
                Web3.to_checksum_address(token), reward_per_round, rounds, round_duration,
                max_contributors, bytes.fromhex(spec_hash[2:]), spec_uri,
                bytes.fromhex(model_hash[2:]), model_uri,
            ),
            "create bounty",
        )
        events = self.board.events.BountyCreated().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise TransactionFailed("createBounty succeeded but emitted no BountyCreated event.")
        return int(events[0]["args"]["bountyId"])

    def expire_round(self, bounty_id: int, round_index: int) -> str:
        """Anyone's fallback after the grace period: the round's reward split equally."""
        receipt = self._send(
            self.board.functions.expireRound(bounty_id, round_index),
            f"expire bounty {bounty_id} round {round_index}",
        )
        return _hex(receipt["transactionHash"])

    def finalize(
        self, bounty_id: int, round_index: int, contributors: list[str], amounts: list[int],
        next_model_hash: str, next_model_uri: str, report_hash: str, report_uri: str,
    ) -> str:
        receipt = self._send(
            self.board.functions.finalize(
                bounty_id, round_index, [Web3.to_checksum_address(c) for c in contributors],
                amounts, bytes.fromhex(next_model_hash[2:]), next_model_uri,
                bytes.fromhex(report_hash[2:]), report_uri,
            ),
            f"finalize bounty {bounty_id} round {round_index}",
        )
        return _hex(receipt["transactionHash"])
