"""A hypothesis state machine drives BountyBoard on py-evm through random create / submit
(direct, gasless, and copies of another's blob) / assignRewards / finalize / expire /
collectExpired / claimLeftover / cancel / claim / time-advance sequences.

A Python model of the lifecycle predicts every call's outcome (success or the exact custom
error) and every balance; after each step the invariants are checked against the chain:
- the board's token balance == the bounties' escrow (which holds their carry, uncollected
  expiry shares and unclaimed leftover) + unclaimed (claimable) rewards;
- claimable balances, escrow and the pot (pot, assigned, carry, leftover, totalPaid, ended)
  equal the model's; nothing is paid twice (an account's token balance is exactly what it
  claimed; a round pays each contributor at most once);
- nobody is paid more than escrowed (a round's payouts stay within its pot);
- no non-submitter is paid (RewardAssigned only names the round's submitters);
- a practitioner gains nothing once a round has a submission: everything credited to it is
  either named in a RewardAssigned/LeftoverClaimed event (it submitted, like anyone) or a
  refund of a round not yet opened at cancel or of a round nobody submitted to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from web3.logs import DISCARD

from tests.chain_fixtures import Market, new_market, send, sign_submission
from wallet.contracts import revert_error_name

GRACE = 300  # a short grace period so that expiry is reachable in few steps
MAX_OPEN_BOUNTIES = 3  # few, so that time jumps and closing calls meet the same bounty
INDEX = st.integers(0, MAX_OPEN_BOUNTIES)  # the last value picks among closed bounties too
OPEN, COMPLETED, CANCELLED = 0, 1, 2
R_NOT_OPEN, R_OPEN, R_FINALIZED, R_EXPIRED, R_CANCELLED = range(5)


@dataclass
class ModelBounty:
    id: int
    owner: str
    reward: int
    rounds: int
    duration: int
    max_contributors: int
    escrow: int  # everything of this bounty on the board not yet credited to an account
    current: int = 0
    status: int = OPEN
    ended: bool = False
    carry: int = 0
    assigned: int = 0  # by the current round's batches
    leftover: int = 0
    total_paid: int = 0
    state: dict[int, int] = field(default_factory=dict)
    deadline: dict[int, int] = field(default_factory=dict)
    submitters: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    blobs: dict[int, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    rewarded: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    per_submitter: dict[int, int] = field(default_factory=dict)
    collected: set[tuple[int, str]] = field(default_factory=set)
    paid_in: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    leftover_claimed: set[str] = field(default_factory=set)
    credit: dict[str, int] = field(default_factory=dict)  # the leftover's credits (assignCredits)

    @property
    def pot(self) -> int:
        return 0 if self.ended else self.reward + self.carry

    def leftover_share(self, account: str) -> int:
        if not self.ended or account in self.leftover_claimed or self.leftover == 0:
            return 0
        if sum(self.credit.values()):
            return self.leftover * self.credit.get(account, 0) // sum(self.credit.values())
        if self.total_paid:
            return self.leftover * self.paid_in[account] // self.total_paid
        rounds = sum(account in s for s in self.submitters.values())
        return self.leftover * rounds // sum(len(s) for s in self.submitters.values())


_MARKET: Market | None = None
_SNAPSHOT = None


def shared_market() -> tuple[Market, object]:
    """One chain and one deployment for every example; each example starts from its snapshot."""
    global _MARKET, _SNAPSHOT
    if _MARKET is None:
        _MARKET = new_market(grace_period=GRACE)
        for practitioner in _MARKET.chain.accounts[1:3]:  # funds for every bounty of a run
            _MARKET.mint(practitioner, 10**9)
            send(_MARKET.token.functions.approve(_MARKET.board.address, 10**9), practitioner)
        _SNAPSHOT = _MARKET.chain.snapshot()
    return _MARKET, _SNAPSHOT


NEW_BOUNTY = {
    "practitioner": st.integers(0, 1),
    "reward": st.integers(1, 1000),
    "rounds": st.integers(1, 3),
    "duration": st.sampled_from([100, 1000]),
    "max_contributors": st.integers(1, 4),
    "first": st.lists(st.integers(0, 4), max_size=3),
}


class BountyBoardMachine(RuleBasedStateMachine):
    @initialize(**NEW_BOUNTY)
    def start(self, practitioner, reward, rounds, duration, max_contributors, first) -> None:
        self.market, snapshot = shared_market()
        self.market.chain.revert(snapshot)
        accounts = self.market.chain.accounts
        self.practitioners = accounts[1:3]
        self.gasless = Account.from_key(keccak(b"quarry gasless contributor"))
        self.relayer = accounts[7]
        # funded; the gasless key submits through the relayer. accounts[2] is both a
        # practitioner and a contributor: an owner submitting to its own bounty, as a sybil would
        self.contributors = accounts[2:6]
        self.actors = sorted({*self.practitioners, *self.contributors, self.gasless.address})
        self.bounties: list[ModelBounty] = []
        self.claimable: dict[str, int] = defaultdict(int)
        self.claimed: dict[str, int] = defaultdict(int)
        self.paid_in_round: dict[tuple[int, int], dict[str, int]] = {}
        self.escrowed: dict[str, int] = defaultdict(int)
        # credited to an account by events naming it (RewardAssigned, LeftoverClaimed), read
        # from the receipts, and the refunds the rules allow an owner
        self.credited_by_events: dict[str, int] = defaultdict(int)
        self.refunds: dict[str, int] = defaultdict(int)
        self.start_balance = {a: self.balance(a) for a in self.actors}
        self.create(practitioner, reward, rounds, duration, max_contributors, first)

    # ------------------------------------------------------------------ helpers

    def balance(self, account: str) -> int:
        return self.market.token.functions.balanceOf(account).call()

    def now(self) -> int:
        return self.market.chain.next_timestamp()

    def attempt(self, call, sender: str, expected_error: str | None):
        """Sends ``call``; asserts it succeeds or reverts with ``expected_error``.

        An expected revert is checked with an eth_call on the pending block (what a transaction
        would see); an expected success is mined with a fixed gas limit, skipping web3's gas
        estimate (a binary search of many executions) to keep the machine fast.
        """
        if expected_error is not None:
            try:
                call.call({"from": sender}, block_identifier="pending")
            except Exception as error:  # eth-tester raises TransactionFailed for any revert
                name = revert_error_name(error)
                event(f"{call.fn_name} -> {name}")  # in --hypothesis-show-statistics
                assert name == expected_error, f"expected {expected_error}, got {name}"
                return None
            raise AssertionError(f"expected {expected_error}, but {call.fn_name} succeeded")
        event(f"{call.fn_name} -> ok")
        try:
            tx_hash = call.transact({"from": sender, "gas": 3_000_000})
        except Exception as error:
            raise AssertionError(f"unexpected revert {revert_error_name(error)}: {error!r}") from error
        receipt = self.market.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise AssertionError(f"{call.fn_name} reverted unexpectedly: {self.why(call, sender)}")
        board_events = self.market.board.events
        for log in board_events.RewardAssigned().process_receipt(receipt, errors=DISCARD):
            self.credited_by_events[log["args"]["contributor"]] += log["args"]["amount"]
        for log in board_events.LeftoverClaimed().process_receipt(receipt, errors=DISCARD):
            self.credited_by_events[log["args"]["account"]] += log["args"]["amount"]
        return receipt

    def why(self, call, sender: str) -> str | None:
        """The custom error a reverted call gives when replayed (for the failure message)."""
        try:
            call.call({"from": sender}, block_identifier="pending")
        except Exception as error:
            return revert_error_name(error)
        return None

    def check_bounty(self, b: ModelBounty, *accounts: str) -> None:
        """The chain's view of one bounty and of the accounts a step touched equals the model."""
        (*_, current, status, escrow) = self.market.board.functions.getBounty(b.id).call()
        assert (current, status, escrow) == (b.current, b.status, b.escrow)
        assert self.market.board.functions.getPot(b.id).call() == [
            b.pot, 0 if b.ended else b.assigned, b.carry, b.leftover, b.total_paid, b.ended]
        for account in {*accounts}:
            assert self.chain_claimable(account) == self.claimable[account]

    def chain_claimable(self, account: str) -> int:
        return self.market.board.functions.claimable(self.market.token.address, account).call()

    def live_bounties(self) -> list[ModelBounty]:
        return [b for b in self.bounties if not b.ended]

    def pick(self, index: int) -> ModelBounty:
        candidates = (index < MAX_OPEN_BOUNTIES and self.live_bounties()) or self.bounties
        return candidates[index % len(candidates)]

    def travel_into_round(self, b: ModelBounty, after_deadline: int | None) -> None:
        """Moves the clock (forward only) to ``after_deadline`` seconds past the round's deadline."""
        if after_deadline is not None:
            self.market.chain.travel_to(b.deadline[b.current] + after_deadline)

    def round_checks(self, b: ModelBounty, round_: int) -> str | None:
        if round_ > b.current:
            return "RoundNotCurrent"
        if round_ < b.current or b.state[round_] != R_OPEN:
            return "AlreadyClosed"
        return None

    def refund(self, b: ModelBounty, amount: int) -> None:
        self.claimable[b.owner] += amount
        self.refunds[b.owner] += amount
        b.escrow -= amount

    def close_round(self, b: ModelBounty, ts: int) -> None:
        """After the current round closed: the next one opens, or the bounty ends."""
        b.assigned = 0
        if b.status == CANCELLED or b.current + 1 >= b.rounds:
            if b.status == OPEN:
                b.status = COMPLETED
            b.ended = True
            b.leftover, b.carry = b.carry, 0
            return
        b.current += 1
        b.state[b.current] = R_OPEN
        b.deadline[b.current] = ts + b.duration

    def record_assignments(self, b: ModelBounty, round_: int, receipt) -> None:
        """Checks RewardAssigned of one round's payout batch against its submitters and pot."""
        assigned = self.market.board.events.RewardAssigned().process_receipt(receipt, errors=DISCARD)
        paid = self.paid_in_round.setdefault((b.id, round_), {})
        for log in assigned:
            args = log["args"]
            assert (args["bountyId"], args["round"]) == (b.id, round_)
            assert args["contributor"] in b.submitters[round_], "a non-submitter was paid"
            assert args["contributor"] not in paid, "a contributor was paid twice in one round"
            paid[args["contributor"]] = args["amount"]
        assert sum(paid.values()) <= b.reward + b.carry, "a round paid more than its pot"

    def payout_expectation(self, b, round_, sender, contributors, amounts) -> str | None:
        """The error assignRewards/finalize must give (None: success), in the contract's order."""
        if sender != b.owner:
            return "NotOwner"
        expected = self.round_checks(b, round_)
        if expected is not None:
            return expected
        ts = self.now()
        if ts < b.deadline[round_]:
            return "DeadlineNotReached"
        if ts >= b.deadline[round_] + GRACE:
            return "GracePeriodOver"
        seen, remaining = set(b.rewarded[round_]), b.pot - b.assigned
        for contributor, amount in zip(contributors, amounts, strict=True):
            if contributor not in b.submitters[round_]:
                return "NotASubmitter"
            if contributor in seen:
                return "DuplicateContributor"
            if amount > remaining:
                return "OverBudget"
            seen.add(contributor)
            remaining -= amount
        return None

    def apply_batch(self, b, round_, contributors, amounts) -> None:
        for contributor, amount in zip(contributors, amounts, strict=True):
            self.claimable[contributor] += amount
            b.paid_in[contributor] += amount
            b.rewarded[round_].add(contributor)
        b.assigned += sum(amounts)
        b.total_paid += sum(amounts)
        b.escrow -= sum(amounts)

    def batch(self, b, round_, weights, tamper, percent=100) -> tuple[list[str], list[int]]:
        """A payout batch: not-yet-paid submitters weighted within ``percent`` of what the pot
        has left (a practitioner withholding the rest)."""
        submitters = [s for s in b.submitters.get(round_, []) if s not in b.rewarded[round_]]
        contributors = submitters[: len(weights)]
        total_weight = sum(weights[: len(contributors)]) or 1
        budget = (max(0, b.pot - b.assigned) if round_ == b.current else b.reward) * percent // 100
        amounts = [budget * w // total_weight for w in weights[: len(contributors)]]
        if tamper == "stranger":
            contributors.append(self.relayer)
            amounts.append(0)
        elif tamper == "duplicate" and (contributors or b.rewarded[round_]):
            contributors.append(contributors[0] if contributors else sorted(b.rewarded[round_])[0])
            amounts.append(0)
        elif tamper == "over" and contributors:
            amounts[-1] = budget + 1 - sum(amounts[:-1])  # the total exceeds the pot by 1
        return contributors, amounts

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: len(self.live_bounties()) < MAX_OPEN_BOUNTIES)
    @rule(**NEW_BOUNTY)
    def create(self, practitioner, reward, rounds, duration, max_contributors, first):
        owner = self.practitioners[practitioner]
        total = reward * rounds
        ts = self.now()
        call = self.market.board.functions.createBounty(
            self.market.token.address, reward, rounds, duration, max_contributors,
            keccak(b"spec"), "file:///spec", keccak(b"model"), "file:///model",
        )
        self.attempt(call, owner, None)
        self.escrowed[owner] += total
        b = ModelBounty(len(self.bounties) + 1, owner, reward, rounds, duration, max_contributors, total)
        b.state[0], b.deadline[0] = R_OPEN, ts + duration
        self.bounties.append(b)
        # early submissions (value 4 = the gasless key) so closing rounds usually has submitters
        for who in first:
            self.submit(len(self.bounties) - 1, who % 4, 0, who == 4, False)

    @rule(index=INDEX, who=st.integers(0, 3), offset=st.sampled_from([0, 0, 0, 1]),
          gasless=st.booleans(), copy=st.sampled_from([False, False, True]))
    def submit(self, index, who, offset, gasless, copy):
        b = self.pick(index)
        round_ = b.current + offset
        contributor = self.gasless.address if gasless else self.contributors[who]
        blob = keccak(f"{b.id}/{round_}/{contributor}".encode())
        if copy and b.blobs[round_]:
            blob = sorted(b.blobs[round_])[0]  # someone else's exact bytes, from a newcomer
            newcomers = [c for c in self.contributors if c not in b.submitters[round_]]
            contributor = newcomers[who % len(newcomers)] if newcomers and not gasless else contributor
        ts = self.now()
        if b.status == COMPLETED or (b.status == CANCELLED and b.state[b.current] != R_OPEN):
            expected = "BountyNotOpen"
        elif round_ != b.current:
            expected = "RoundNotCurrent"
        elif b.state[round_] != R_OPEN or ts >= b.deadline[round_]:
            expected = "RoundNotOpen"
        elif contributor in b.submitters[round_]:
            expected = "AlreadySubmitted"
        elif len(b.submitters[round_]) >= b.max_contributors:
            expected = "RoundFull"
        elif blob in b.blobs[round_]:
            expected = "DuplicateBlob"
        else:
            expected = None
        if gasless:
            deadline = ts + 60
            signature = sign_submission(self.gasless, self.market.board, b.id, round_, blob, "u", deadline)
            call = self.market.board.functions.submitWithSignature(
                b.id, round_, blob, "u", contributor, deadline, signature
            )
            self.attempt(call, self.relayer, expected)
        else:
            self.attempt(self.market.board.functions.submit(b.id, round_, blob, "u"), contributor, expected)
        if expected is None:
            b.submitters[round_].append(contributor)
            b.blobs[round_].add(blob)

    @rule(
        index=INDEX,
        by_owner=st.sampled_from([True] * 5 + [False]),
        offset=st.sampled_from([-1] + [0] * 8 + [1]),
        weights=st.lists(st.integers(0, 5), min_size=0, max_size=4),
        tamper=st.sampled_from([None, None, None, "stranger", "duplicate", "over"]),
        after_deadline=st.sampled_from([None, 0, 1, GRACE // 2, GRACE - 1, GRACE - 1, GRACE]),
        percent=st.sampled_from([100, 100, 50, 0]),
    )
    def finalize(self, index, by_owner, offset, weights, tamper, after_deadline, percent=100):
        b = self.pick(index)
        self.travel_into_round(b, after_deadline)
        round_ = max(0, b.current + offset)
        sender = b.owner if by_owner else self.relayer
        contributors, amounts = self.batch(b, round_, weights, tamper, percent)
        ts = self.now()
        expected = self.payout_expectation(b, round_, sender, contributors, amounts)
        call = self.market.board.functions.finalize(
            b.id, round_, contributors, amounts, keccak(b"next"), "file:///next", keccak(b"r"), "r"
        )
        receipt = self.attempt(call, sender, expected)
        if receipt is None:
            return
        self.apply_batch(b, round_, contributors, amounts)
        self.record_assignments(b, round_, receipt)
        if b.submitters[round_]:
            b.carry = b.pot - b.assigned  # never back to the owner
        else:
            self.refund(b, b.reward)
        b.state[round_] = R_FINALIZED
        self.close_round(b, ts)
        self.check_bounty(b, b.owner, *b.submitters[round_])

    @rule(
        index=INDEX,
        by_owner=st.sampled_from([True] * 5 + [False]),
        weights=st.lists(st.integers(0, 5), min_size=0, max_size=2),
        tamper=st.sampled_from([None, None, None, "duplicate", "over"]),
        after_deadline=st.sampled_from([None, 0, 1, 1, GRACE // 2, GRACE - 1, GRACE]),
    )
    def assign(self, index, by_owner, weights, tamper, after_deadline):
        """A payout batch before finalize (a practitioner with many contributors)."""
        b = self.pick(index)
        self.travel_into_round(b, after_deadline)
        round_ = b.current
        sender = b.owner if by_owner else self.relayer
        contributors, amounts = self.batch(b, round_, weights, tamper)
        expected = self.payout_expectation(b, round_, sender, contributors, amounts)
        call = self.market.board.functions.assignRewards(b.id, round_, contributors, amounts)
        receipt = self.attempt(call, sender, expected)
        if receipt is None:
            return
        self.apply_batch(b, round_, contributors, amounts)
        self.record_assignments(b, round_, receipt)
        self.check_bounty(b, *contributors)

    @rule(
        index=INDEX,
        by_owner=st.sampled_from([True] * 5 + [False]),
        weights=st.lists(st.integers(0, 3), min_size=0, max_size=3),
        tamper=st.sampled_from([None, None, None, "stranger", "duplicate", "over"]),
        after_deadline=st.sampled_from([None, 0, 1, GRACE - 1, GRACE]),
    )
    def assign_credits(self, index, by_owner, weights, tamper, after_deadline):
        """The leftover's credits, in the bounty's closing round before finalize (or tried
        in another round, by a stranger, for a non-submitter, twice, over the bound)."""
        b = self.pick(index)
        self.travel_into_round(b, after_deadline)
        round_ = b.current
        sender = b.owner if by_owner else self.relayer
        submitted = {a for s in b.submitters.values() for a in s}
        contributors = sorted(submitted - set(b.credit))[: len(weights)]
        credits = [w * b.reward for w in weights[: len(contributors)]]  # up to 3 rounds' reward
        if tamper == "stranger":
            contributors.append(self.relayer)
            credits.append(1)
        elif tamper == "duplicate" and (contributors or b.credit):
            contributors.append(contributors[0] if contributors else sorted(b.credit)[0])
            credits.append(1)
        elif tamper == "over" and contributors:
            credits[-1] = b.reward * b.rounds + 1
        expected = self.payout_expectation(b, round_, sender, [], [])
        if expected is None and b.status != CANCELLED and round_ + 1 < b.rounds:
            expected = "NotClosingRound"
        seen = set(b.credit)
        for contributor, credit in zip(contributors, credits, strict=True):
            if expected is not None:
                break
            if contributor not in submitted:
                expected = "NotABountySubmitter"
            elif contributor in seen:
                expected = "DuplicateCredit"
            elif credit > b.reward * b.rounds:
                expected = "OverBudget"
            seen.add(contributor)
        call = self.market.board.functions.assignCredits(b.id, round_, contributors, credits)
        if self.attempt(call, sender, expected) is None:
            return
        b.credit.update(zip(contributors, credits, strict=True))
        got = self.market.board.functions.getCredit(b.id, contributors[0] if contributors else sender).call()
        assert got[1] == sum(b.credit.values())

    @rule(
        index=INDEX,
        weights=st.lists(st.integers(0, 5), min_size=1, max_size=4),
        after_deadline=st.sampled_from([0, 1, GRACE - 1]),
        percent=st.sampled_from([100, 100, 60, 0]),  # a practitioner withholding part or all
    )
    def finalize_in_window(self, index, weights, after_deadline, percent):
        """The practitioner's usual path: in the window, paying the round's own submitters."""
        self.finalize(index, True, 0, weights, None, after_deadline, percent)

    @rule(
        index=INDEX,
        offset=st.sampled_from([-1, 0, 0, 0, 0, 1]),
        after_deadline=st.sampled_from([None, GRACE - 1, GRACE, GRACE + 1, 2 * GRACE]),
    )
    def expire(self, index, offset, after_deadline):
        b = self.pick(index)
        self.travel_into_round(b, after_deadline)
        round_ = max(0, b.current + offset)
        ts = self.now()
        expected = self.round_checks(b, round_)
        if expected is None and ts < b.deadline[round_] + GRACE:
            expected = "GracePeriodNotOver"
        receipt = self.attempt(self.market.board.functions.expireRound(b.id, round_), self.relayer, expected)
        if receipt is None:
            return
        submitters = b.submitters[round_]
        (expired,) = self.market.board.events.RoundExpired().process_receipt(receipt, errors=DISCARD)
        if submitters:
            remaining = b.pot - b.assigned
            share = remaining // len(submitters)
            b.per_submitter[round_] = share
            b.carry = remaining - share * len(submitters)
        else:
            share = 0
            self.refund(b, b.reward)
        assert expired["args"]["perSubmitter"] == share
        b.state[round_] = R_EXPIRED
        self.close_round(b, ts)
        self.check_bounty(b, b.owner, *submitters)

    @rule(index=st.integers(0, 20), round_=st.integers(0, 2), who=st.integers(0, 5),
          aimed=st.sampled_from([True, True, True, False]))
    def collect_expired(self, index, round_, who, aimed):
        """Mostly for a submitter of an expired round (a wallet's claim), else anything."""
        expired = [(b, r) for b in self.bounties for r, st_ in b.state.items() if st_ == R_EXPIRED]
        if aimed and expired:
            b, round_ = expired[index % len(expired)]
            submitters = b.submitters[round_] or self.actors
            account = submitters[who % len(submitters)]
        else:
            b = self.pick(index % (MAX_OPEN_BOUNTIES + 1))
            account = self.actors[who % len(self.actors)]
        if b.state.get(round_) != R_EXPIRED:
            expected = "NotExpired"
        elif account not in b.submitters[round_]:
            expected = "NotASubmitter"
        elif (round_, account) in b.collected:
            expected = "AlreadyCollected"
        else:
            expected = None
        call = self.market.board.functions.collectExpired(b.id, round_, account)
        if self.attempt(call, self.relayer, expected) is None:
            return
        b.collected.add((round_, account))
        self.claimable[account] += b.per_submitter[round_]
        b.escrow -= b.per_submitter[round_]
        self.paid_in_round.setdefault((b.id, round_), {})
        self.check_bounty(b, account)

    @rule(index=st.integers(0, 20), who=st.integers(0, 5), aimed=st.sampled_from([True, True, False]))
    def claim_leftover(self, index, who, aimed):
        """Mostly for a contributor of an ended bounty, else anything."""
        ended = [b for b in self.bounties if b.ended]
        if aimed and ended:
            b = ended[index % len(ended)]
            accounts = sorted({a for s in b.submitters.values() for a in s}) or self.actors
            account = accounts[who % len(accounts)]
        else:
            b = self.pick(index % (MAX_OPEN_BOUNTIES + 1))
            account = self.actors[who % len(self.actors)]
        share = b.leftover_share(account)
        if not b.ended:
            expected = "BountyNotEnded"
        elif account in b.leftover_claimed:
            expected = "AlreadyCollected"
        elif share == 0:
            expected = "NothingToClaim"
        else:
            expected = None
        assert self.market.board.functions.leftoverShare(b.id, account).call() == share
        if self.attempt(self.market.board.functions.claimLeftover(b.id, account), self.relayer, expected) is None:
            return
        b.leftover_claimed.add(account)
        self.claimable[account] += share
        b.escrow -= share
        self.check_bounty(b, account)

    @rule(index=INDEX, by_owner=st.sampled_from([True, False]))
    def cancel(self, index, by_owner):
        b = self.pick(index)
        sender = b.owner if by_owner else self.relayer
        if sender != b.owner:
            expected = "NotOwner"
        elif b.status != OPEN:
            expected = "BountyNotOpen"
        else:
            expected = None
        receipt = self.attempt(self.market.board.functions.cancel(b.id), sender, expected)
        if receipt is None:
            return
        refunded = (b.rounds - b.current - 1) * b.reward  # only rounds not yet opened
        (cancelled,) = self.market.board.events.BountyCancelled().process_receipt(receipt, errors=DISCARD)
        assert cancelled["args"]["refunded"] == refunded
        self.refund(b, refunded)
        b.status = CANCELLED
        self.check_bounty(b, b.owner)

    @rule(who=st.integers(0, 5))
    def claim(self, who):
        account = self.actors[who % len(self.actors)]
        if account == self.gasless.address:
            return  # holds no ETH to pay gas; it can claim once funded, like anyone else
        amount = self.claimable[account]
        call = self.market.board.functions.claim(self.market.token.address)
        receipt = self.attempt(call, account, None if amount else "NothingToClaim")
        if receipt is not None:
            (event,) = self.market.board.events.RewardClaimed().process_receipt(receipt, errors=DISCARD)
            assert event["args"]["amount"] == amount
            self.claimed[account] += amount
            self.claimable[account] = 0
            assert self.chain_claimable(account) == 0
            assert self.balance(account) == self.expected_balance(account)

    @rule(seconds=st.sampled_from([1, 30, 99, 100, 101, 300]))
    def wait(self, seconds):
        self.market.chain.advance(seconds)

    @rule(index=INDEX, moment=st.sampled_from([-1, 0, GRACE - 1, GRACE]))
    def jump_to_deadline(self, index, moment):
        """Time travel to the edges of a round's finalise window (forward only)."""
        b = self.pick(index)
        self.market.chain.travel_to(b.deadline[b.current] + moment)

    # ------------------------------------------------------------------ invariants

    def expected_balance(self, account: str) -> int:
        """Nothing paid twice: an account holds what it had, less escrow posted, plus claims."""
        return self.start_balance[account] - self.escrowed[account] + self.claimed[account]

    @invariant()
    def board_balance_is_escrow_plus_claimable(self):
        if not hasattr(self, "market"):
            return
        for b in self.bounties:
            # the escrow holds the carry, less what an unfinalised round's batches already paid
            # out of its pot (reward + carry): found by a run that assigned a closing round's
            # whole pot before finalize, where carry <= escrow alone failed on a correct board
            assert b.carry <= b.escrow + b.assigned
        escrow = sum(b.escrow for b in self.bounties)
        owed = sum(self.claimable.values())
        assert self.balance(self.market.board.address) == escrow + owed

    @invariant()
    def practitioners_gain_nothing_from_rounds_with_submissions(self):
        """What a practitioner was credited is what events paid it as a contributor plus the
        refunds of unopened or unsubmitted rounds; the model grants no other refund."""
        if not hasattr(self, "market"):
            return
        for owner in self.practitioners:
            credited = self.claimable[owner] + self.claimed[owner]
            assert credited == self.credited_by_events[owner] + self.refunds[owner]
            refundable = sum(
                b.reward * (sum(1 for r in range(b.rounds) if r not in b.state)  # never opened
                            + sum(1 for r, st_ in b.state.items()
                                  if st_ != R_OPEN and not b.submitters[r]))  # nobody submitted
                for b in self.bounties if b.owner == owner)
            assert self.refunds[owner] <= refundable

    @invariant()
    def contributors_never_get_more_than_their_rounds_escrowed(self):
        if not hasattr(self, "market"):
            return
        earned: dict[str, int] = defaultdict(int)
        ceiling: dict[str, int] = defaultdict(int)
        for b in self.bounties:
            for account in self.actors:
                if any(account in s for s in b.submitters.values()):
                    ceiling[account] += b.reward * b.rounds  # the bounty's whole escrow
        for (_bounty_id, _round), paid in self.paid_in_round.items():
            for contributor, amount in paid.items():
                earned[contributor] += amount
        for contributor, amount in earned.items():
            assert amount <= ceiling[contributor]

    def teardown(self):
        """The whole chain state against the model, once per run (each step checked its part)."""
        if not hasattr(self, "market"):
            return
        for b in self.bounties:
            self.check_bounty(b)
            for round_, share in b.per_submitter.items():
                for account in b.submitters[round_]:
                    expected = 0 if (round_, account) in b.collected else share
                    assert self.market.board.functions.expiredShare(b.id, round_, account).call() == expected
        for account in self.actors:
            assert self.chain_claimable(account) == self.claimable[account]
            assert self.balance(account) == self.expected_balance(account)
        chain_escrow = sum(self.market.board.functions.getBounty(b.id).call()[10] for b in self.bounties)
        owed = sum(self.chain_claimable(a) for a in self.actors)
        assert self.balance(self.market.board.address) == chain_escrow + owed


BountyBoardMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # every step is a real EVM transaction: shrinking a failure takes many minutes, so report
    # the failing sequence as found (the model's assertion message names the broken step)
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
TestBountyBoardStateMachine = pytest.mark.slow(BountyBoardMachine.TestCase)
