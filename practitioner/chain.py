"""The practitioner's view of BountyBoard: reads, and the transactions it signs (create,
finalize in batches, expire, reveal the validation set).

A thin layer over the contract ABI (wallet.contracts) and wallet.tx (EIP-1559 signing with
a chain-id check before every signature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from common.artifacts import abi
from wallet.bounties import Bounty, BountyClient
from wallet.contracts import revert_error_name
from wallet.errors import QuarryError, TransactionFailed
from wallet.tx import transact

ROUND_NOT_OPEN, ROUND_OPEN, ROUND_FINALIZED, ROUND_EXPIRED, ROUND_CANCELLED = range(5)
ROUND_STATES = ("not open", "open", "finalized", "expired", "cancelled")
# contributors per payout transaction: ~53k gas each on the board, so a batch stays near 5.4M
# gas, far inside any block, whatever the round's size
PAYOUT_BATCH = 100


@dataclass(frozen=True)
class Pot:
    """The bounty's payout state (getPot): what the current round may still assign is
    `pot - assigned`; `carry` is part of the pot, `leftover` is shared once it `ended`."""

    pot: int
    assigned: int
    carry: int
    leftover: int
    total_paid: int
    ended: bool


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
        self._reader = BountyClient(w3, board, chain_id, file_roots=None)

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

    def pot(self, bounty_id: int) -> Pot:
        fields = self.board.functions.getPot(bounty_id).call()
        return Pot(*(int(v) for v in fields[:5]), bool(fields[5]))

    def reveal(self, bounty_id: int) -> tuple[str, str] | None:
        """(dataHash, uri) of the revealed validation set, or None before the reveal."""
        data_hash, uri = self.board.functions.getReveal(bounty_id).call()
        return None if bytes(data_hash) == b"\0" * 32 else (_hex(data_hash), uri)

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
        """Anyone's fallback after the grace period: what the round's pot did not assign is
        split equally among its submitters (each share collected with collectExpired)."""
        receipt = self._send(
            self.board.functions.expireRound(bounty_id, round_index),
            f"expire bounty {bounty_id} round {round_index}",
        )
        return _hex(receipt["transactionHash"])

    def finalize(
        self, bounty_id: int, round_index: int, contributors: list[str], amounts: list[int],
        next_model_hash: str, next_model_uri: str, report_hash: str, report_uri: str,
        batch: int = PAYOUT_BATCH,
    ) -> str:
        """Pay the round and close it; returns the closing transaction's hash. More than `batch`
        payees go out in `assignRewards` batches first, the last batch with `finalize`.

        Safe to repeat after a crash between batches: a transaction is all or nothing, so a
        batch the board already holds is recognised (its dry run reverts with
        DuplicateContributor) and skipped."""
        if len(contributors) != len(amounts):
            raise QuarryError("finalize needs one amount per contributor.")
        if batch < 1:
            raise QuarryError("A payout batch holds at least one contributor.")
        payees = [Web3.to_checksum_address(c) for c in contributors]
        cut = max(0, len(payees) - 1) // batch * batch  # the last (possibly full) batch finalizes
        for start in range(0, cut, batch):
            call = self.board.functions.assignRewards(
                bounty_id, round_index, payees[start:start + batch], amounts[start:start + batch])
            if self._already_assigned(call):
                continue
            self._send(call, f"pay bounty {bounty_id} round {round_index}, contributors "
                             f"{start + 1}-{min(start + batch, cut)} of {len(payees)}")
        receipt = self._send(
            self.board.functions.finalize(
                bounty_id, round_index, payees[cut:], amounts[cut:],
                bytes.fromhex(next_model_hash[2:]), next_model_uri,
                bytes.fromhex(report_hash[2:]), report_uri,
            ),
            f"finalize bounty {bounty_id} round {round_index}",
        )
        return _hex(receipt["transactionHash"])

    def assign_credits(
        self, bounty_id: int, round_index: int, contributors: list[str], credits: list[int],
        batch: int = PAYOUT_BATCH,
    ) -> int:
        """Record the leftover's credits in the bounty's closing round (`assignCredits`, before
        `finalize`). Batches the board already holds (a resumed run) are skipped. Returns the
        number of transactions sent."""
        if len(contributors) != len(credits):
            raise QuarryError("assign_credits needs one credit per contributor.")
        accounts = [Web3.to_checksum_address(c) for c in contributors]
        sent = 0
        for start in range(0, len(accounts), max(1, batch)):
            call = self.board.functions.assignCredits(
                bounty_id, round_index, accounts[start:start + batch], credits[start:start + batch])
            if self._already_assigned(call, "DuplicateCredit"):
                continue
            self._send(call, f"credit bounty {bounty_id} round {round_index}, contributors "
                             f"{start + 1}-{min(start + batch, len(accounts))} of {len(accounts)}")
            sent += 1
        return sent

    def _already_assigned(self, call: Any, duplicate: str = "DuplicateContributor") -> bool:
        """Whether the board already holds this batch (a resumed finalize): its dry run reverts
        with `duplicate`."""
        if self.signer is None:
            return False
        try:
            call.call({"from": self.signer.address})
        except Exception as exc:  # a revert: the batch itself will say why when sent
            return revert_error_name(exc) == duplicate
        return False

    def reveal_validation(self, bounty_id: int, data_hash: str, uri: str) -> str:
        """Publish the validation set's reveal blob on chain (owner, once, after the end)."""
        receipt = self._send(
            self.board.functions.revealValidation(bounty_id, bytes.fromhex(data_hash[2:]), uri),
            f"reveal the validation set of bounty {bounty_id}",
        )
        return _hex(receipt["transactionHash"])
