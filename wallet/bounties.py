"""The data owner's BountyBoard client: list and show bounties, submit (direct or gasless),
claim, and the account's submissions and rewards with their status.

A bounty's spec is fetched from its URI and checked against the on-chain specHash
(keccak256 of the exact bytes); a mismatch is reported, never trusted. The spec JSON is
parsed generically here; trainer/spec.py validates it fully.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from common.artifacts import abi
from trainer import jsonsafe
from trainer.spec import KEY_PROOF_RULES, MIN_CLASS_VALIDATION_ROWS, RECOMMENDED_VALIDATION_ROWS
from wallet import eip712
from wallet.blob_store import InboxRefusal, check_hash, fetch_blob, post_json
from wallet.errors import (
    InvalidInput,
    NetworkError,
    NotFound,
    NothingToClaim,
    QuarryError,
    TransactionFailed,
)
from wallet.history import HistoryScanner, events
from wallet.network import check_address
from wallet.token import TokenLabel, token_label
from wallet.tx import (
    build_transaction,
    checked_chain_id,
    explain,
    sign_and_send,
    transact,
    wait_for_receipt,
)

if TYPE_CHECKING:
    from wallet.store import Store

BOUNTY_STATUS = ("open", "completed", "cancelled")
ROUND_STATE = ("not open", "open", "finalized", "expired", "cancelled")
SPEC_MAX_BYTES = 4 * 1024 * 1024
GASLESS_VALIDITY_SECONDS = 3600


@dataclass
class Bounty:
    id: int
    owner: str
    token: str
    reward_per_round: int
    rounds: int
    round_duration: int
    max_contributors: int
    spec_hash: str
    spec_uri: str
    current_round: int
    status: str  # open, completed, cancelled
    escrow: int
    round_deadline: int
    round_submissions: int
    round_state: str
    phase: str  # what a data owner can do now: accepting, awaiting finalisation, expirable, closed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_closing_round(self, round_index: int) -> bool:
        """Whether finalising `round_index` ends the bounty: its last round, or a cancelled
        bounty's current one (a cancellation keeps the round it fell in; the rounds before it
        closed while the bounty was open). Its report carries the leftover's credits
        (`BountyBoard.assignCredits`, `NotClosingRound`)."""
        return round_index + 1 >= self.rounds or (self.status == "cancelled" and round_index == self.current_round)


@dataclass
class BountyDetails:
    bounty: Bounty
    rounds: list[dict[str, Any]]
    spec: dict[str, Any] | None  # the parsed spec when it matched its hash
    spec_ok: bool
    spec_problem: str | None  # why the spec is not shown (mismatch, unreachable, not JSON)
    my_submission: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bounty": self.bounty.as_dict(), "rounds": self.rounds, "spec": self.spec,
            "spec_ok": self.spec_ok, "spec_problem": self.spec_problem,
            "my_submission": self.my_submission,
        }


@dataclass
class RewardRow:
    bounty_id: int
    round: int
    blob_hash: str
    status: str  # pending, finalised, expired, claimable, claimed, cancelled
    amount: int  # tokens assigned (0 while pending)
    token: str
    claim: str  # "claimable", "claimed" or "" (nothing assigned)


@dataclass
class LeftoverRow:
    """An ended bounty's leftover (what its rounds did not assign), the account's share."""

    bounty_id: int
    amount: int
    token: str
    claim: str  # "claimable" (to collect, or credited), "claimed", or "none" (no share of it)
    # the account's leftover credit and the bounty's total (`getCredit`): the leftover is
    # shared by them; a total of 0 means by pay (no credits were recorded)
    credit: int = 0
    total_credit: int = 0

    @property
    def basis(self) -> str:
        """How the share was reckoned, in words."""
        if self.claim == "none":
            if self.total_credit and self.credit:
                return (f"your credit, {self.credit / self.total_credit:.2g} of the bounty's, comes to less "
                        "than one base unit of it")
            if self.total_credit:
                return ("your leftover credit is 0: over the bounty's rounds your updates' value was not "
                        "positive, or they were rejected or counted as copies")
            return "it is shared in proportion to pay (no credits were recorded), and its rounds paid you nothing"
        if self.total_credit:
            return (f"by your credit, {self.credit / self.total_credit:.1%} of the bounty's (your value "
                    "over its rounds)")
        return "in proportion to your pay (no credits were recorded)"

    def sentence(self, amount_text: str) -> str:
        """The line `quarry rewards` and the Rewards page show (`amount_text`: the share, formatted)."""
        if self.claim == "none":
            return f"Bounty {self.bounty_id} ended with a leftover; you have no share of it: {self.basis}."
        return f"Bounty {self.bounty_id} ended with a leftover; your share: {amount_text} ({self.claim}), {self.basis}."


@dataclass
class RewardsSummary:
    rows: list[RewardRow] = field(default_factory=list)
    # token -> units claimable now, including expiry and leftover shares that `claim` first
    # collects on the board (collectExpired / claimLeftover)
    claimable: dict[str, int] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)  # token -> units claimed so far
    leftovers: list[LeftoverRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            # amounts in base units as strings, like every amount here (18-decimal amounts pass
            # 2^53, where a JSON number read as a double loses units)
            "submissions": [dict(asdict(row), amount=str(row.amount)) for row in self.rows],
            "leftovers": [dict(asdict(row), amount=str(row.amount), credit=str(row.credit),
                               total_credit=str(row.total_credit), basis=row.basis) for row in self.leftovers],
            "claimable": {k: str(v) for k, v in self.claimable.items()},
            "claimed": {k: str(v) for k, v in self.claimed.items()},
        }


class StaleRound(QuarryError):
    """An update built for a round that is no longer the bounty's current round."""

    def __init__(self, bounty_id: int, built_for: int, current: int, rounds: int) -> None:
        self.bounty_id, self.built_for, self.current, self.rounds = bounty_id, built_for, current, rounds
        super().__init__(
            f"This update was built for round {built_for} ({built_for + 1} of {rounds}) of bounty "
            f"{bounty_id}, which is no longer current (round {current} ({current + 1} of {rounds}) "
            "is); nothing was sent. Train again for the current round.")


def validation_set_text(spec: dict[str, Any] | None) -> tuple[str, bool]:
    """(what an owner is told about a bounty's validation set, whether to warn: it is small,
    its rows are public, or it has few rows of a class), from its verified spec's
    `validation_rows` and `validation_class_rows` (checked against the revealed set by the
    wallet) and `public_validation` (practitioner.validation_reuse)."""
    text, warn = _validation_size_text(spec)
    verdict, _, why = text.partition(": ")
    shown, few = _validation_classes(spec)
    whys = [why] if why else []
    if few:
        verdict += f", few rows of class {', '.join(few)}"
        whys.append(f"what your rows of {'that class' if len(few) == 1 else 'those classes'} teach is "
                    "valued on those few rows only, so they earn little (measured: an owner of one "
                    "class's rows earned 0-3 % of a round with 1-3 validation rows of it, 9-20 % with "
                    "a full share)")
    text = verdict + (": " + "; and ".join(whys) if whys else "") + (f"; by class: {shown}" if shown else "")
    return text, warn or bool(few)


def _validation_classes(spec: dict[str, Any] | None) -> tuple[str, list[str]]:
    """("A 29, B 12, C 4", the classes of under MIN_CLASS_VALIDATION_ROWS rows) from the spec's
    `validation_class_rows`; ("", []) when it does not declare them."""
    counts = (spec or {}).get("validation_class_rows")
    classes = ((spec or {}).get("schema") or {}).get("classes")
    if not isinstance(counts, list) or not isinstance(classes, list) or len(counts) != len(classes):
        return "", []
    pairs = list(zip(classes, counts, strict=True))
    return (", ".join(f"{name} {count}" for name, count in pairs),
            [str(name) for name, count in pairs if count < MIN_CLASS_VALIDATION_ROWS])


def _validation_size_text(spec: dict[str, Any] | None) -> tuple[str, bool]:
    rows = (spec or {}).get("validation_rows")
    if not isinstance(rows, int) or isinstance(rows, bool):
        return "size not declared by the spec", False
    # a bounty that never reveals its set: the size is the practitioner's word
    unchecked = " (the practitioner's word, as this set is never revealed)" if (spec or {}).get("verifiable") is False else ""
    public = (spec or {}).get("public_validation") is True
    public_why = ("the practitioner posted them as public (revealed by an earlier bounty, or shipped with a "
                  "demo), so anyone can train on them and be paid for them as for fresh rows, about a "
                  "quarter of a round each time")
    if rows >= RECOMMENDED_VALIDATION_ROWS:
        return (f"{rows} rows, public{unchecked}: {public_why}", True) if public else (f"{rows} rows{unchecked}", False)
    small_why = (f"on a set under {RECOMMENDED_VALIDATION_ROWS} rows one validation example can move a "
                 "noticeable part of a round's pay (measured: up to 9-14 % of a round on 30-88 rows), and "
                 "honest updates are more often too uncertain to be paid in their round (they still count "
                 "toward the bounty's leftover)")
    if public:
        return f"{rows} rows, small and public{unchecked}: {small_why}; and {public_why}", True
    return f"{rows} rows, small{unchecked}: {small_why}", True


def validation_set_label(spec: dict[str, Any] | None) -> str:
    """The name `quarry bounties show` gives the line of `validation_set_text`: in capitals when
    the set is small (under RECOMMENDED_VALIDATION_ROWS) or its rows are public."""
    rows = (spec or {}).get("validation_rows")
    if isinstance(rows, int) and not isinstance(rows, bool) and rows < RECOMMENDED_VALIDATION_ROWS:
        return "SMALL VALIDATION SET"
    if _validation_classes(spec)[1]:
        return "FEW ROWS OF A CLASS"
    if (spec or {}).get("public_validation") is True and isinstance(rows, int) and not isinstance(rows, bool):
        return "PUBLIC VALIDATION ROWS"
    return "validation set"


def valuation_rules_text(spec: dict[str, Any] | None) -> tuple[str, bool]:
    """(what an owner is told about the rules a bounty's reports are held to, whether they are
    the older, looser ones), from its verified spec's `valuation_rules` (trainer.spec)."""
    rules = (spec or {}).get("valuation_rules")
    if isinstance(rules, int) and not isinstance(rules, bool) and rules >= 1:
        copies = ("a proof of any copy claim against your update, under a key proven well formed"
                  if rules >= KEY_PROOF_RULES else
                  "a proof of any copy claim against your update" if rules >= 2 else
                  "copies (in order only: posted before copy proofs, a claim that your update is a "
                  "copy is the practitioner's word)")
        return ("checked: your wallet holds every round report to the protocol's rules (amounts by the "
                f"pay rule, the round's submitters, {copies}, rejection reasons, the bound along the "
                "reference, and your own pay factor once the validation set is revealed)"), False
    return ("posted before the checked rules: your wallet checks its payouts against the chain, its "
            "models and your scores, but not that the amounts follow from the report's values, nor "
            "your pay factor"), True


def key_proof_problem(spec: dict[str, Any]) -> str | None:
    """Why a spec's Paillier key is not proven well formed (trainer.key_proof) where it must be
    (valuation_rules 3 or later) or where it carries a proof, else None. Checked when the spec
    is fetched, so such a bounty is never offered; older specs, without a proof, are not."""
    from trainer.errors import SpecError
    from trainer.key_proof import modulus_proof_problem
    from trainer.spec_sections import parse_paillier

    rules, section = spec.get("valuation_rules"), spec.get("paillier")
    needs = isinstance(rules, int) and not isinstance(rules, bool) and rules >= KEY_PROOF_RULES
    if not needs and not (isinstance(section, dict) and "proof" in section):
        return None
    try:
        paillier = parse_paillier(section)
    except SpecError as exc:
        try:  # the proof's own words where there are roots to check
            return modulus_proof_problem(int(section["n"]), [int(root) for root in section["proof"]]) or \
                str(exc).rstrip(".")
        except (KeyError, TypeError, ValueError):
            return str(exc).rstrip(".")
    if needs and not paillier.proof:
        return f"valuation_rules {rules} needs the proof and the spec has none"
    return None


def open_updates_text(spec: dict[str, Any] | None) -> str | None:
    """What an owner is told about a bounty whose spec says `open_updates` (trainer.openings);
    None for one that does not open its updates."""
    if (spec or {}).get("open_updates") is not True:
        return None
    return ("opened at the reveal: once the validation set is revealed, every counted update of each round is "
            "opened to that round's contributors, so your wallet recomputes every owner's value, not only "
            "yours (in rounds of up to 128 counted updates); the others see your update too, protected by your privacy noise (your wallet will not "
            "send one without noise to this bounty unless you ask)")


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class BountyClient:
    """BountyBoard for one account on one network; reads are cached in the store when given."""

    def __init__(self, w3: Web3, board: str, chain_id: int, store: Store | None = None,
                 network: str = "", *, file_roots: Sequence[str | os.PathLike[str]] | None,
                 known_tokens: Sequence[str] = ()) -> None:
        self.w3 = w3
        # the tokens the network lists (its reward token): any other is shown as unverified
        self.known_tokens = tuple(t for t in known_tokens if t)
        # where file:// URIs of bounties (specs, models, reports) may be read from: required,
        # since a bounty is a stranger's input (None, said explicitly: anywhere)
        self.file_roots = file_roots
        self.chain_id = chain_id
        self.board_address = check_address(board, "bounty board address")
        self.board = w3.eth.contract(address=self.board_address, abi=abi("BountyBoard"))
        self.store = store
        self.network = network
        self._grace: int | None = None

    # -- reads ------------------------------------------------------------------------------

    def _call(self, function_call: Any, block: int | str = "latest") -> Any:
        try:
            return function_call.call(block_identifier=block)
        except Exception as exc:
            if block != "latest":
                # a node behind a load balancer may not have the block yet (or no longer keep
                # its state): the latest state is the next best answer
                with contextlib.suppress(Exception):
                    return function_call.call(block_identifier="latest")
            raise explain(exc, self.w3) from exc

    def now(self) -> int:
        # the chain's clock: the next block's time is at least the latest block's
        return max(int(time.time()), int(self.w3.eth.get_block("latest")["timestamp"]))

    def token(self, address: str) -> TokenLabel:
        """A bounty's token: symbol and decimals from its contract (cached), known or not."""
        return token_label(self.w3, address, self.known_tokens)

    def grace_period(self) -> int:
        if self._grace is None:
            self._grace = int(self._call(self.board.functions.gracePeriod()))
        return self._grace

    def count(self) -> int:
        return int(self._call(self.board.functions.bountyCount()))

    def bounty(self, bounty_id: int, now: int | None = None) -> Bounty:
        if not isinstance(bounty_id, int) or bounty_id < 1 or bounty_id > self.count():
            raise NotFound(f"There is no bounty {bounty_id} on this board.")
        fields = self._call(self.board.functions.getBounty(bounty_id))
        current = int(fields[8])
        round_fields = self._call(self.board.functions.getRound(bounty_id, current))
        status = BOUNTY_STATUS[int(fields[9])] if int(fields[9]) < 3 else str(fields[9])
        state = ROUND_STATE[int(round_fields[2])] if int(round_fields[2]) < 5 else str(round_fields[2])
        deadline = int(round_fields[0])
        now = self.now() if now is None else now
        # a cancelled bounty's current round stays open until its deadline (the board lets no
        # cancel race a submission), so only the round's state closes it
        if status == "completed" or state != "open":
            phase = "closed"
        elif now < deadline:
            phase = "accepting"
        elif now < deadline + self.grace_period():
            phase = "awaiting finalisation"
        else:
            phase = "expirable"
        bounty = Bounty(
            id=bounty_id, owner=fields[0], token=fields[1], reward_per_round=int(fields[2]),
            rounds=int(fields[3]), round_duration=int(fields[4]), max_contributors=int(fields[5]),
            spec_hash=_hex(fields[6]), spec_uri=fields[7], current_round=current, status=status,
            escrow=int(fields[10]), round_deadline=deadline,
            round_submissions=int(round_fields[1]), round_state=state, phase=phase,
        )
        self._cache_put(bounty)
        return bounty

    def list_bounties(self, refresh: bool = True) -> list[Bounty]:
        """Every bounty, newest first. Finished bounties whose escrow is empty come from the
        cache once seen (they cannot change; a finished bounty still holding escrow pays it out
        as its leftover is claimed); the others are re-read. Without refresh, only the cache."""
        cached = {b.id: b for b in self._cache_all()}
        if not refresh:
            return sorted(cached.values(), key=lambda b: b.id, reverse=True)
        now = self.now()
        found = []
        for bounty_id in range(self.count(), 0, -1):
            old = cached.get(bounty_id)
            if old is not None and old.phase == "closed" and old.escrow == 0 and (
                    old.status == "completed" or (old.status == "cancelled" and old.round_state != "open")):
                found.append(old)
            else:
                found.append(self.bounty(bounty_id, now))
        return found

    def rounds(self, bounty: Bounty, block: int | str = "latest") -> list[dict[str, Any]]:
        """Every round of `bounty` as the board holds it at `block`."""
        found = []
        for index in range(bounty.rounds):
            fields = self._call(self.board.functions.getRound(bounty.id, index), block)
            found.append({
                "round": index, "deadline": int(fields[0]), "submissions": int(fields[1]),
                "state": ROUND_STATE[int(fields[2])] if int(fields[2]) < 5 else str(fields[2]),
                "model_hash": _hex(fields[3]), "model_uri": fields[4],
                "report_hash": _hex(fields[5]), "report_uri": fields[6],
            })
        return found

    def fetch_spec(self, bounty: Bounty) -> tuple[dict[str, Any] | None, str | None]:
        """(spec, None) when the bytes at specURI hash to specHash and parse as a JSON object,
        else (None, the reason). Nothing unverified is returned."""
        try:
            data = fetch_blob(bounty.spec_uri, bounty.spec_hash, max_bytes=SPEC_MAX_BYTES,
                              file_roots=self.file_roots)
        except InvalidInput as exc:
            if "does not match" in str(exc):
                return None, (f"The spec at {bounty.spec_uri} does not match the hash committed on "
                              f"chain ({bounty.spec_hash}); it is not shown or used.")
            return None, str(exc)
        except QuarryError as exc:
            return None, f"The spec could not be fetched: {exc}"
        try:
            spec = jsonsafe.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, "The spec matches its hash but is not JSON."
        if not isinstance(spec, dict):
            return None, "The spec matches its hash but is not a JSON object."
        problem = key_proof_problem(spec)
        if problem is not None:
            return None, (f"The bounty's Paillier key is not proven well formed ({problem}): openings and copy "
                          "proofs under it could open one update as another, so it is not shown or used.")
        return spec, None

    def show(self, bounty_id: int, account: str | None = None) -> BountyDetails:
        bounty = self.bounty(bounty_id)
        spec, problem = self.fetch_spec(bounty)
        mine = None
        if account:
            mine = self.submission(bounty_id, bounty.current_round, account)
        return BountyDetails(bounty, self.rounds(bounty), spec, spec is not None, problem, mine)

    def submission(self, bounty_id: int, round_: int, account: str) -> dict[str, Any] | None:
        blob, uri, at = self._call(self.board.functions.getSubmission(bounty_id, round_, check_address(account)))
        if int(at) == 0:
            return None
        return {"round": round_, "blob_hash": _hex(blob), "uri": uri, "submitted_at": int(at)}

    def claimable(self, token: str, account: str, block: int | str = "latest") -> int:
        return int(self._call(self.board.functions.claimable(check_address(token), check_address(account)),
                              block))

    # -- the cache --------------------------------------------------------------------------

    def _cache_put(self, bounty: Bounty) -> None:
        if self.store is None:
            return
        self.store.db["bounty_cache"].upsert({
            "network": self.network, "board": self.board_address, "bounty_id": bounty.id,
            "data": json.dumps(bounty.as_dict()), "updated_at": time.time(),
        }, pk=("network", "board", "bounty_id"))

    def _cache_all(self) -> list[Bounty]:
        if self.store is None:
            return []
        rows = self.store.db.query(
            "SELECT data FROM bounty_cache WHERE network = ? AND board = ?", [self.network, self.board_address])
        return [Bounty(**json.loads(row["data"])) for row in rows]

    # -- transactions -----------------------------------------------------------------------

    def check_can_submit(self, bounty_id: int, account: str, round_: int | None = None) -> Bounty:
        """The bounty, when `account` may submit to `round_` (default: the current round) now.

        An update is built for one round (its blob header says which): submitted into a later
        round it would be scored against another model, so it is refused here, before any
        signature or gas (StaleRound)."""
        bounty = self.bounty(bounty_id)
        if round_ is not None and round_ != bounty.current_round:
            raise StaleRound(bounty_id, round_, bounty.current_round, bounty.rounds)
        if bounty.phase != "accepting":
            raise TransactionFailed(
                f"Bounty {bounty_id} does not accept submissions now (round {bounty.current_round} is "
                f"{bounty.phase}).")
        if self.submission(bounty_id, bounty.current_round, account) is not None:
            raise TransactionFailed(f"{account} has already submitted to round {bounty.current_round}.")
        return bounty

    def submit(self, signer: LocalAccount, bounty_id: int, blob_hash: str, uri: str,
               round_: int | None = None) -> dict[str, Any]:
        """Submit directly (the account pays the gas); returns the receipt. `round_` is the
        round the update was built for (StaleRound when it is no longer current)."""
        bounty = self.check_can_submit(bounty_id, signer.address, round_)
        call = self.board.functions.submit(bounty_id, bounty.current_round,
                                           bytes.fromhex(check_hash(blob_hash)[2:]), uri)
        return transact(self.w3, signer, call, expected_chain_id=self.chain_id, store=self.store,
                        network=self.network, kind="submit",
                        description=f"Submit to bounty {bounty_id}, round {bounty.current_round}")

    def sign_gasless(self, signer: LocalAccount, bounty_id: int, blob_hash: str, uri: str,
                     valid_for: int = GASLESS_VALIDITY_SECONDS, round_: int | None = None) -> dict[str, Any]:
        """The signed relay payload for the current round (no transaction, no gas)."""
        bounty = self.check_can_submit(bounty_id, signer.address, round_)
        # the domain's chain id must be the node's: a signature for the chain the user meant
        checked_chain_id(self.w3, self.chain_id)
        submission = eip712.make_submission(
            bounty_id, bounty.current_round, blob_hash, uri, signer.address, self.now() + valid_for)
        signature = eip712.sign_submission(signer, self.chain_id, self.board_address, submission)
        return eip712.relay_payload(submission, signature)

    def submit_gasless(self, signer: LocalAccount, bounty_id: int, blob_hash: str, uri: str,
                       inbox_url: str, wait: bool = True, round_: int | None = None) -> str:
        """Sign the submission and have the bounty's inbox relay it; returns the relay's tx hash."""
        payload = self.sign_gasless(signer, bounty_id, blob_hash, uri, round_=round_)
        tx_hash = post_relay(inbox_url, payload)
        if wait:
            wait_for_receipt(self.w3, tx_hash)
        return tx_hash

    def expirable(self, bounty: Bounty) -> bool:
        """Whether anyone may expire the bounty's current round now: open, unscored, and its
        grace period over (a cancelled bounty's last round included)."""
        return bounty.round_state == "open" and self.now() >= bounty.round_deadline + self.grace_period()

    def expire_round(self, signer: LocalAccount, bounty_id: int, round_: int) -> str:
        """`expireRound`: anyone's fallback once a round's grace period has passed and it was
        not finalised; its reward is shared equally by its submitters. Returns the tx hash.

        Checked first (no gas spent on a call that would revert): the round must be the
        bounty's current, open round and its grace period over."""
        bounty = self.bounty(bounty_id)
        if round_ != bounty.current_round or bounty.round_state != "open":
            raise TransactionFailed(
                f"Round {round_} of bounty {bounty_id} cannot be expired: it is not the bounty's open "
                f"round ({bounty.round_state} {bounty.current_round}).")
        # not `phase`: a cancelled bounty's last round is expirable too
        expirable_at = bounty.round_deadline + self.grace_period()
        left = expirable_at - self.now()
        if left > 0:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expirable_at))
            raise TransactionFailed(
                f"Round {round_} of bounty {bounty_id} cannot be expired yet: the practitioner may "
                f"still finalise it until {when} ({left} s from now); expire it after that.")
        receipt = transact(self.w3, signer, self.board.functions.expireRound(bounty_id, round_),
                           expected_chain_id=self.chain_id, store=self.store, network=self.network,
                           kind="expire", description=f"Expire bounty {bounty_id}, round {round_}")
        return _hex(receipt["transactionHash"])

    def collect(self, signer: LocalAccount) -> list[tuple[int, int | None, int, str]]:
        """Credit to the account what waits for it on the board: its equal share of every
        expired round it submitted to (`collectExpired`) and its share of every ended bounty's
        leftover (`claimLeftover`). Returns [(bounty, round or None for a leftover, amount,
        tx hash)]. Needs the store (the account's submissions come from its cached events)."""
        if self.store is None:
            return []
        account = signer.address
        submitted = self._submitted_rounds(account)
        done: list[tuple[int, int | None, int, str]] = []
        for (bounty_id, round_), amount in self._pending_expired(account, submitted).items():
            receipt = transact(self.w3, signer, self.board.functions.collectExpired(bounty_id, round_, account),
                               expected_chain_id=self.chain_id, store=self.store, network=self.network,
                               kind="collect", description=f"Collect the expiry share of bounty {bounty_id}, "
                                                          f"round {round_}")
            done.append((bounty_id, round_, amount, _hex(receipt["transactionHash"])))
        for bounty_id, amount in self._pending_leftovers(account, submitted).items():
            receipt = transact(self.w3, signer, self.board.functions.claimLeftover(bounty_id, account),
                               expected_chain_id=self.chain_id, store=self.store, network=self.network,
                               kind="collect", description=f"Collect the leftover share of bounty {bounty_id}")
            done.append((bounty_id, None, amount, _hex(receipt["transactionHash"])))
        return done

    def _submitted_rounds(self, account: str) -> list[tuple[int, int]]:
        """(bounty, round) of the account's submissions, from the cached events (synced first)."""
        assert self.store is not None
        scanner = HistoryScanner(self.w3, self.store, self.network)
        scanner.sync(account, f"board:{self.board_address}", "BountyBoard",
                     scanner.board_queries(self.board_address, account))
        found = events(self.store, self.network, account, f"board:{self.board_address}")
        return sorted({(int(e["bounty_id"]), int(e["round"])) for e in found if e["event"] == "UpdateSubmitted"})

    def _pending_expired(self, account: str, rounds: list[tuple[int, int]] | None = None,
                         block: int | str = "latest") -> dict[tuple[int, int], int]:
        """(bounty, round) -> the expiry share `collectExpired` would credit now (> 0 only)."""
        pending = {}
        for bounty_id, round_ in self._submitted_rounds(account) if rounds is None else rounds:
            share = int(self._call(self.board.functions.expiredShare(bounty_id, round_, account), block))
            if share > 0:
                pending[(bounty_id, round_)] = share
        return pending

    def _pending_leftovers(self, account: str,
                           rounds: list[tuple[int, int]] | None = None) -> dict[int, int]:
        """bounty -> the leftover share `claimLeftover` would credit now (> 0 only)."""
        pending = {}
        for bounty_id in sorted({b for b, _ in (self._submitted_rounds(account) if rounds is None else rounds)}):
            share = int(self._call(self.board.functions.leftoverShare(bounty_id, account)))
            if share > 0:
                pending[bounty_id] = share
        return pending

    def claim(self, signer: LocalAccount, token: str | None = None) -> list[tuple[str, int, str]]:
        """Claim everything claimable (in `token`, or every token of the account's rewards),
        after collecting the account's expiry and leftover shares on the board (`collect`).

        Returns [(token, amount, tx hash)]; NothingToClaim when nothing is claimable."""
        self.collect(signer)
        tokens = [check_address(token)] if token else self._claim_tokens(signer.address)
        claimed = []
        for each in tokens:
            amount = self.claimable(each, signer.address)
            if amount == 0:
                continue
            receipt = transact(self.w3, signer, self.board.functions.claim(each),
                               expected_chain_id=self.chain_id, store=self.store, network=self.network,
                               kind="claim", description=f"Claim rewards in {each}")
            claimed.append((each, amount, _hex(receipt["transactionHash"])))
        if not claimed:
            where = f" in {self.token(tokens[0]).text}" if token else ""
            raise NothingToClaim(f"{signer.address} has nothing to claim{where} on this board.")
        return claimed

    def _reward_tokens(self, account: str) -> list[str]:
        tokens = {self._bounty_token(row.bounty_id) for row in self.rewards(account).rows}
        return sorted(t for t in tokens if t)

    def _claim_tokens(self, account: str) -> list[str]:
        """Every token something may be claimable in: the account's rewards', those of the
        bounties it submitted to (expiry and leftover shares) or created (refunds), and the
        network's own token. Checking one more token costs a call; missing one would leave a
        remainder unclaimed while saying there is nothing."""
        if self.store is None:  # no cached events to find bounties by
            return sorted(check_address(t) for t in self.known_tokens)
        bounties = {b for b, _ in self._submitted_rounds(account)}  # synced the board's events
        bounties |= {int(e["bounty_id"]) for e in events(self.store, self.network, account,
                                                         f"board:{self.board_address}")
                     if e["event"] == "BountyCreated" and e["bounty_id"] is not None}
        tokens = set(self._reward_tokens(account)) | set(self.known_tokens)
        tokens |= {self._bounty_token(b) for b in bounties}
        return sorted(check_address(t) for t in tokens if t)

    # -- the account's submissions and rewards ----------------------------------------------

    def _bounty_token(self, bounty_id: int) -> str:
        for bounty in self._cache_all():
            if bounty.id == bounty_id:
                return bounty.token
        return self.bounty(bounty_id).token

    def rewards(self, account: str, refresh: bool = True) -> RewardsSummary:
        """Per submission: pending / finalised / expired / cancelled with its amount, and
        whether that amount is claimable or claimed (claims are matched oldest reward first)."""
        account = check_address(account)
        if self.store is None:
            raise InvalidInput("Rewards need the local store (they come from cached chain events).")
        block: int | str = "latest"
        if refresh:
            scanner = HistoryScanner(self.w3, self.store, self.network)
            kind = f"board:{self.board_address}"
            scanner.sync(account, kind, "BountyBoard", scanner.board_queries(self.board_address, account))
            # The board's views are read at the block the events were read to: a round
            # finalised just after the scan must not show as finalised with no reward yet.
            block = max(0, scanner.cursor(account, kind) - 1)
        found = events(self.store, self.network, account, f"board:{self.board_address}")
        assigned: dict[tuple[int, int], int] = {}
        claimed: dict[str, int] = {}
        for event in found:
            if event["event"] == "RewardAssigned":
                key = (int(event["bounty_id"]), int(event["round"]))
                assigned[key] = assigned.get(key, 0) + int(event["amount"])
            elif event["event"] == "RewardClaimed":
                token = check_address(json.loads(event["details"])["token"])
                claimed[token] = claimed.get(token, 0) + int(event["amount"])
        summary = RewardsSummary(claimed=dict(claimed))
        remaining_claimed = dict(claimed)
        round_states: dict[tuple[int, int], str] = {}
        submitted = sorted({(int(e["bounty_id"]), int(e["round"])) for e in found if e["event"] == "UpdateSubmitted"})
        pending = self._pending_expired(account, submitted, block)  # expiry shares not yet collected
        to_collect: dict[str, int] = {}
        for event in found:
            if event["event"] != "UpdateSubmitted":
                continue
            key = (int(event["bounty_id"]), int(event["round"]))
            token = self._bounty_token(key[0])
            if key not in round_states:
                fields = self._call(self.board.functions.getRound(*key), block)
                round_states[key] = ROUND_STATE[int(fields[2])] if int(fields[2]) < 5 else "unknown"
            state = round_states[key]
            amount = assigned.get(key, 0)
            status = {"open": "pending", "finalized": "finalised", "expired": "expired",
                      "cancelled": "cancelled"}.get(state, state)
            claim_state = ""
            if key in pending:  # credited by `claim` (collectExpired) before it pays out
                amount = pending[key]
                to_collect[token] = to_collect.get(token, 0) + amount
                claim_state = "claimable"
            elif amount > 0:
                if remaining_claimed.get(token, 0) >= amount:
                    remaining_claimed[token] -= amount
                    claim_state = "claimed"
                else:
                    claim_state = "claimable"
            details = json.loads(event["details"])
            summary.rows.append(RewardRow(key[0], key[1], details.get("blobHash", ""), status, amount,
                                          token, claim_state))
        for bounty_id in sorted({b for b, _ in submitted}):
            token = self._bounty_token(bounty_id)
            share = int(self._call(self.board.functions.leftoverShare(bounty_id, account), block))
            credited = int(self._call(self.board.functions.getShare(bounty_id, account), block)[2])
            if not (share or credited):
                # an ended bounty's leftover that gives this account nothing: said, with why
                pot = self._call(self.board.functions.getPot(bounty_id), block)
                if bool(pot[5]) and int(pot[3]) > 0:
                    credit, total_credit = (int(v) for v in self._call(
                        self.board.functions.getCredit(bounty_id, account), block))
                    summary.leftovers.append(LeftoverRow(bounty_id, 0, token, "none", credit, total_credit))
                continue
            credit, total_credit = (int(v) for v in self._call(self.board.functions.getCredit(bounty_id, account), block))
            if share:
                to_collect[token] = to_collect.get(token, 0) + share
                summary.leftovers.append(LeftoverRow(bounty_id, share, token, "claimable", credit, total_credit))
            else:
                state = "claimable"
                if remaining_claimed.get(token, 0) >= credited:
                    remaining_claimed[token] -= credited
                    state = "claimed"
                summary.leftovers.append(LeftoverRow(bounty_id, credited, token, state, credit, total_credit))
        for token in {row.token for row in summary.rows} | set(claimed):
            summary.claimable[token] = self.claimable(token, account, block) + to_collect.get(token, 0)
        return summary


# -- the gasless path, both ends -------------------------------------------------------------


def post_relay(inbox_url: str, payload: dict[str, Any], timeout: float = 60) -> str:
    """POST a signed submission to an inbox's /relay; returns the relay transaction's hash."""
    try:
        answer = post_json(inbox_url, "/relay", payload, timeout)
    except InboxRefusal as exc:
        raise TransactionFailed(f"The inbox at {inbox_url} did not relay the submission: {exc.reason}") from exc
    tx_hash = answer.get("txHash")
    if not isinstance(tx_hash, str) or not tx_hash.startswith("0x"):
        raise NetworkError(f"The inbox at {inbox_url} answered without a transaction hash.")
    return tx_hash


def relay_submission(w3: Web3, relayer_signer: LocalAccount, payload: Any, *, board: str,
                     expected_chain_id: int | None = None, store: Store | None = None,
                     network: str = "", max_gas: int | None = None) -> str:
    """Relay a signed Submission with submitWithSignature, paying the gas; returns the tx hash.

    Checked first, so a bad request costs the relayer nothing: the fields, the signature
    (for a contributor without code; contract wallets are left to the board's ERC-1271
    check), the deadline, and a dry run of the call (which reverts for a closed round or a
    repeat submission); with `max_gas`, a call estimated to need more gas is refused unsent.
    """
    submission, signature = eip712.submission_from_payload(payload)
    chain_id = int(expected_chain_id if expected_chain_id is not None else w3.eth.chain_id)
    board_address = check_address(board, "bounty board address")
    if len(w3.eth.get_code(submission.contributor)) == 0:
        signer = eip712.recover_signer(chain_id, board_address, submission, signature)
        if signer != submission.contributor:
            raise TransactionFailed("The signature does not match the submission and contributor.")
    if submission.deadline < int(time.time()):
        raise TransactionFailed("The signed submission has expired.")
    contract = w3.eth.contract(address=board_address, abi=abi("BountyBoard"))
    call = contract.functions.submitWithSignature(
        submission.bounty_id, submission.round, bytes.fromhex(submission.blob_hash[2:]),
        submission.uri, submission.contributor, submission.deadline, bytes.fromhex(signature[2:]),
    )
    data = call._encode_transaction_data()
    tx, _ = build_transaction(w3, relayer_signer.address, board_address, 0, data, None, chain_id)
    if max_gas is not None and int(tx["gas"]) > max_gas:
        raise TransactionFailed(f"The submission needs {int(tx['gas'])} gas; this relay pays at most "
                                f"{max_gas} per submission.")
    return sign_and_send(w3, relayer_signer, tx, chain_id, store=store, network=network, kind="relay",
                         description=f"Relay a submission to bounty {submission.bounty_id}")
