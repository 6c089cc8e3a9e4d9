"""Check the practitioner's round reports against the chain and, once it revealed the
validation set, against the wallet's own recomputation: `quarry rewards --verify` and the
Rewards page's Check column.

For every round the account submitted to, one `RoundCheck`:

- Verified: (a) the report (fetched from the round's reportURI, hash checked against the
  chain) names this bounty, round, spec and round model, its amounts equal the chain's
  RewardAssigned amounts for every address and in total, and it lists this submission;
  those amounts, the next model's members and its denominator follow from the report's own
  values, standard errors and pay factors (`round_report.rule_differences`);
  (b) its nextModelHash is the next round's model on chain (when a next round opened); in the
  closing round, the leftover's credits equal the chain's and the rule's over the bounty's
  reports (`round_report.leftover_credits`);
  (c) the revealed validation set matches the spec's `validation_commitment`, the round
  model's and the next model's log-loss on it equal metricBefore / metricAfter, and this
  owner's "without you" (next model minus its kept update / denominator when inModel)
  equals its line's metricWithout (relative tolerance 1e-9), and its pay factor and scale
  equal the ones its kept update's direction gives against the recomputed reference update.
  On a bounty that opens its updates, the update the round's opening proves is the owner's
  update for these checks when the kept copy is missing or damaged; the detail says so (a
  note, not a difference). An intact kept copy the opening contradicts is a Mismatch.
- Mismatch: one of those differs; `differences` says which, in words.
- Not yet revealed: (a) and (b) hold; the validation set has not been revealed.
- Not verifiable: (a) and (b) hold but the scores cannot be checked: the bounty was posted
  as not verifiable, the report predates version 2, this computer does not keep the
  update it sent or the copy it keeps is damaged (`kept_updates.read_kept_update`) and no
  opening of the round proves it (the bounty does not open its updates, or the opening
  cannot be fetched now), or a blob cannot be fetched now.
- Not finalised: the round is open, awaiting finalisation, expired (the contract split it
  equally: nothing to check) or cancelled.

Each result is recorded in the store (`verify_results`), so the track record can count the
mismatches this wallet saw. No Qt here: the GUI runs `verify_rewards` in a worker.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.errors import TrainerError
from wallet.blob_store import copy_proof_uri, fetch_blob, fetch_copy_proof
from wallet.board_log import board_events, round_payouts, sync_board_log
from wallet.errors import BlobTooLarge, InvalidInput, NotFound, QuarryError
from wallet.history import round_text
from wallet.kept_updates import (
    copy_proof_token_for,
    kept_update_for,
    read_kept_update_for,
    upload_receipt,
)
from wallet.round_report import (
    MAX_REPORT_BYTES,
    is_protocol_rejection,
    leftover_credits,
    parse_report,
    rejected_line,
    report_line,
    rule_differences,
    unpaid_reason,
)

if TYPE_CHECKING:
    from wallet.bounties import Bounty, BountyClient
    from wallet.store import Store

VERIFIED = "verified"
MISMATCH = "mismatch"
NOT_REVEALED = "not revealed"
NOT_VERIFIABLE = "not verifiable"
NOT_FINALISED = "not finalised"
STATUS_TEXT = {VERIFIED: "Verified", MISMATCH: "Mismatch", NOT_REVEALED: "Not yet revealed",
               NOT_VERIFIABLE: "Not verifiable", NOT_FINALISED: "Not finalised"}
RELATIVE_TOLERANCE = 1e-9
# a pay factor is in 0-1 and 0 at its edge: compared absolutely
PAY_FACTOR_TOLERANCE = 1e-9
SPEC_MAX_BYTES = 4 * 1024 * 1024
MODEL_MAX_BYTES = 256 * 1024 * 1024
REVEAL_MAX_BYTES = 64 * 1024 * 1024  # trainer.reveal.MAX_REVEAL_BYTES
# the practitioner's latest reveals before a bounty was posted that its revealed set is compared
# with (each fetched once per check; older reuse is not looked for)
MAX_EARLIER_REVEALS = 8
_ZERO_HASH = "0x" + "00" * 32
# what a wallet restored on another computer does to name its proofs again (wallet.recover)
RECOVER_HINT = "'quarry recover-sent' or Rewards > Recover sent updates fetches it again"


@dataclass
class RoundCheck:
    bounty_id: int
    round: int
    blob_hash: str
    status: str  # one of STATUS_TEXT's keys
    detail: str  # one sentence for people
    differences: list[str] = field(default_factory=list)  # what differs (Mismatch)
    checked: list[str] = field(default_factory=list)  # what was checked and held
    numbers: dict[str, float] = field(default_factory=dict)  # the recomputed scores
    rounds: int | None = None
    unpaid: str = ""  # why the report counted this account's update but paid it nothing, or did not count it (round_report.unpaid_reason)
    scaled: str = ""  # how far the round's bound along the reference scaled this account's update down
    copy_proof: str = ""  # the report counts this account's update as a copy, and the copy proof holds
    opened: str = ""  # open_updates: every counted update's numbers recomputed from the round's opening

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), status_text=self.status_text)


def says_blob_unavailable(reason: str) -> bool:
    """Whether a rejection reason is the reference practitioner's for a blob it could not
    read (practitioner.evaluate, practitioner.decode)."""
    return reason.startswith("blob unavailable") or reason.startswith("blob could not be fetched")


def refute_rejection(client: BountyClient, account: str, reason: str, bounty_id: int, round_index: int,
                     blob_hash: str, deadline: int) -> str:
    """What this wallet's own records say against a report's reason for rejecting the owner's
    update ("" when they do not contradict it): when and where it published the blob
    (`kept_updates.upload_receipt`) and the update itself (the kept vector, exactly what the
    practitioner decrypts). The reasons are the reference practitioner's words
    (practitioner.decode, trainer.shapley)."""
    receipt = upload_receipt(client, account, bounty_id, round_index, blob_hash)
    if says_blob_unavailable(reason) and receipt is not None and receipt["at"] <= deadline:
        return (f"the report says its blob was unavailable, but this wallet published it to "
                f"{receipt['uri']} at {_utc(receipt['at'])}, before the round closed at {_utc(deadline)}")
    if reason.startswith("blob does not match the hash") and receipt is not None:
        return ("the report says its blob does not match the hash on chain, but this wallet "
                "published exactly the bytes whose hash it committed")
    kept = kept_update_for(client, account, bounty_id, round_index, blob_hash)
    if kept is None:
        return ""
    if reason.startswith(BLOB_REJECTIONS) and receipt is not None:
        # a kept update exists only for a blob this wallet built (under the spec's key and
        # encoding, for this bounty's round and model, within the spec's size limit: checked
        # before training), and the receipt says it published exactly the committed bytes
        return (f"the report rejects it as {reason[:120]!r}, but this wallet built that blob for this "
                "round's bounty, key and model and published exactly the bytes whose hash it committed")
    # (the screen calls an update of norm <= 1e-12 zero: trainer.shapley.screen_updates)
    if reason.startswith("zero update") and float(np.linalg.norm(kept)) > 1e-12:
        return "the report calls it a zero update, but the update this wallet sent is not zero"
    if reason.startswith("update has non-finite values") and np.all(np.isfinite(kept)):
        return "the report says it has non-finite values, but every value this wallet sent is finite"
    return ""


NOT_ALIGNED = "update not aligned with the validation data"  # trainer.shapley's reason
# practitioner.decode's and .valuation's reasons about the blob's bytes themselves
BLOB_REJECTIONS = ("blob is for bounty ", "blob has ", "unreadable", "undecryptable blob",
                   "wrong number of parameters")


def refute_screening(reason: str, spec: Any, round_params: np.ndarray, x: np.ndarray, y: np.ndarray,
                     kept: np.ndarray | None) -> str:
    """Once the validation set is revealed: "" unless the report rejected the owner's update
    as not aligned although the screen keeps it surely. The wallet recomputes the
    practitioner's reference update (deterministic) from the round's model and the revealed
    set, and its kept update's cosine with it; kept whatever the round's other updates were
    (`trainer.alignment.surely_kept`, with the number of updates tested that the reason
    states) means the rejection is false."""
    from trainer.alignment import cosine, reference_update, surely_kept

    match = re.search(r"; (\d+) updates tested", reason)
    if not reason.startswith(NOT_ALIGNED) or match is None or kept is None or kept.size != round_params.size:
        return ""
    alignment = cosine(kept, reference_update(spec, round_params, x, y))
    tests = int(match.group(1))
    if not surely_kept(alignment, kept.size, tests):
        return ""
    return (f"the report says your update was not aligned with the validation data, but on the "
            f"revealed set its cosine with the practitioner's reference update is {alignment:.2f}, "
            f"which the screen keeps in a round of {tests} updates")


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def same_number(mine: float, theirs: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    return math.isfinite(theirs) and abs(mine - theirs) <= tolerance * max(abs(mine), abs(theirs), 1e-300)


class _Checker:
    """One account's checks, with what several rounds of a bounty share fetched once."""

    def __init__(self, client: BountyClient, account: str, block: int | str = "latest") -> None:
        self.client = client
        self.account = account
        self.block = block  # the rounds are read where the board's events were read to
        self.roots = client.file_roots
        self._bounties: dict[int, Bounty] = {}
        self._rounds: dict[int, list[dict[str, Any]]] = {}
        self._specs: dict[int, Any] = {}
        self._reveals: dict[int, Any] = {}
        self._revealed_before: dict[int, str] = {}  # bounty -> revealed_before's answer
        self._reports: dict[str, dict[str, Any]] = {}  # by reportHash: each report fetched once

    # -- chain and blobs ----------------------------------------------------------------

    def bounty(self, bounty_id: int) -> Bounty:
        if bounty_id not in self._bounties:
            self._bounties[bounty_id] = self.client.bounty(bounty_id)
        return self._bounties[bounty_id]

    def rounds(self, bounty_id: int) -> list[dict[str, Any]]:
        if bounty_id not in self._rounds:
            self._rounds[bounty_id] = self.client.rounds(self.bounty(bounty_id), self.block)
        return self._rounds[bounty_id]

    def spec(self, bounty_id: int) -> Any:
        from trainer.spec import BountySpec

        if bounty_id not in self._specs:
            bounty = self.bounty(bounty_id)
            data = fetch_blob(bounty.spec_uri, bounty.spec_hash, SPEC_MAX_BYTES, file_roots=self.roots)
            self._specs[bounty_id] = BountySpec.from_json_bytes(data)
        return self._specs[bounty_id]

    def reveal(self, bounty_id: int) -> tuple[str, str] | None:
        """(dataHash, uri) once the practitioner revealed the validation set, else None."""
        if bounty_id not in self._reveals:
            found = None
            function = getattr(self.client.board.functions, "getReveal", None)
            if function is not None:
                data_hash, uri = self.client._call(function(bounty_id))
                data_hash = "0x" + bytes(data_hash).hex()
                if data_hash != _ZERO_HASH:
                    found = (data_hash, str(uri))
            self._reveals[bounty_id] = found
        return self._reveals[bounty_id]

    def revealed_before(self, bounty_id: int, spec: Any, x: np.ndarray, y: np.ndarray) -> str:
        """"" unless rows of this bounty's revealed set had been revealed by another bounty of
        its practitioner on this board before it was posted, and its spec does not say its rows
        are public (`public_validation`): then anyone could be paid for them, which the spec
        denied (docs/PROTOCOL.md, "Validation rows used twice"). Reads the board's cached
        events; an earlier reveal that cannot be fetched or read is passed over."""
        if bounty_id not in self._revealed_before:  # one answer per bounty, whatever its rounds
            self._revealed_before[bounty_id] = self._find_revealed_before(bounty_id, spec, x, y)
        return self._revealed_before[bounty_id]

    def _find_revealed_before(self, bounty_id: int, spec: Any, x: np.ndarray, y: np.ndarray) -> str:
        from trainer.reveal import parse_validation_reveal, row_keys

        if spec.public_validation or self.client.store is None:
            return ""
        store, network, board = self.client.store, self.client.network, self.client.board_address
        owner = self.bounty(bounty_id).owner.lower()
        created = [row for row in board_events(store, network, board, ["BountyCreated"])
                   if str(row["args"].get("owner", "")).lower() == owner]
        posted = next((row["block_number"] for row in created if int(row["bounty_id"]) == bounty_id), None)
        if posted is None:
            return ""
        earlier = [int(row["bounty_id"]) for row in created if int(row["bounty_id"]) != bounty_id]
        reveals = [row for row in board_events(store, network, board, ["ValidationRevealed"], earlier)
                   if row["block_number"] < posted][-MAX_EARLIER_REVEALS:]
        keys = row_keys(spec, x, y)
        for row in reversed(reveals):
            other = int(row["bounty_id"])
            try:
                other_spec = self.spec(other)
                data = fetch_blob(str(row["args"].get("uri", "")), str(row["args"].get("dataHash", "")),
                                  REVEAL_MAX_BYTES, file_roots=self.roots)
                ox, oy, _salt = parse_validation_reveal(data, other_spec.validation_commitment,
                                                        max_bytes=REVEAL_MAX_BYTES)
                shared = len(keys & row_keys(other_spec, ox, oy)) if other_spec.n_features == spec.n_features else 0
            except (QuarryError, TrainerError, ValueError):
                continue
            if shared:
                return (f"validation set: {shared} of its {len(y)} rows had been revealed with bounty {other} "
                        "before this bounty was posted, and its spec does not say its rows are public: "
                        "anyone could train on them and be paid for them")
        return ""

    def model(self, spec: Any, model_hash: str, uri: str) -> Any:
        from trainer.models import model_from_bytes

        return model_from_bytes(fetch_blob(uri, model_hash, MODEL_MAX_BYTES, file_roots=self.roots), spec)

    def next_model_uri(self, bounty_id: int, round_index: int, next_hash: str, report_uri: str) -> str:
        """Where the report's next model is: the next round's modelURI on chain, else (last
        round: the chain keeps no next model) beside the report in the same blob store."""
        rounds = self.rounds(bounty_id)
        if round_index + 1 < len(rounds) and rounds[round_index + 1]["model_hash"] == next_hash:
            return rounds[round_index + 1]["model_uri"]
        head, _sep, _tail = report_uri.rpartition("/")
        return f"{head}/{next_hash}"

    def amount_text(self, token: str) -> Callable[[int], str]:
        """Base units -> "0.6 QDT" in the token's decimals (exact: a 1-unit difference shows),
        or "N base units" when the token does not answer like an ERC-20."""
        from wallet.token import format_amount, token_info

        try:
            info = token_info(self.client.w3, token)
        except QuarryError:
            return lambda units: f"{units} base units"
        return lambda units: f"{format_amount(units, info.decimals)} {info.symbol or token}"

    # -- one round ------------------------------------------------------------------------

    def check(self, bounty_id: int, round_index: int, blob_hash: str, store: Store,
              network: str, latest: bool = False) -> RoundCheck:
        """One round's check; with `latest` (the account's last round in the bounty) also the
        credits of the bounty's closing round when the account did not submit to it: the
        leftover is shared by them whichever rounds it took part in."""
        bounty = self.bounty(bounty_id)
        result = RoundCheck(bounty_id, round_index, blob_hash, NOT_FINALISED, "", rounds=bounty.rounds)
        info = self.rounds(bounty_id)[round_index]
        if info["state"] != "finalized":
            result.detail = {
                "expired": "The round expired: the contract split its reward equally among its "
                           "submitters; there is no report to check.",
                "cancelled": "The round was cancelled before it closed.",
            }.get(info["state"], "The round has not been finalised yet.")
            return result
        # (a) the report against the chain
        try:
            data = fetch_blob(info["report_uri"], info["report_hash"], MAX_REPORT_BYTES, file_roots=self.roots)
        except InvalidInput as exc:
            if "does not match" in str(exc):
                return self._mismatch(result, ["the report at its URI does not match the hash on chain"])
            return self._unverifiable(result, f"The round report cannot be fetched: {exc}")
        except QuarryError as exc:
            return self._unverifiable(result, f"The round report cannot be fetched: {exc}")
        try:
            report = parse_report(data)
        except InvalidInput as exc:
            return self._mismatch(result, [f"the report on chain is not a valid report ({exc})"])
        self._reports[info["report_hash"]] = report
        # why a counted update was paid nothing, or why it was not counted at all
        result.unpaid = unpaid_reason(report, self.account)
        differences = self._check_payouts(report, bounty, info, store, network, result)
        differences += self._check_rules(report, bounty, round_index, result)
        copy_differences, copy_unchecked = self._check_copy_claim(report, bounty, round_index, result)
        differences += copy_differences
        if "credits" in report or bounty.is_closing_round(round_index):
            differences += self._check_credits(report, bounty, result, round_index)
        elif latest:
            closing = self._closing_report(bounty, round_index)
            if closing is not None:
                differences += self._check_credits(closing[1], bounty, result, closing[0])
        # (b) the next model against the chain
        rounds = self.rounds(bounty_id)
        if round_index + 1 < len(rounds) and rounds[round_index + 1]["state"] != "not open" \
                and rounds[round_index + 1]["state"] != "cancelled":
            if str(report.get("nextModelHash", "")).lower() != rounds[round_index + 1]["model_hash"]:
                differences.append(
                    f"model: the report's next model {report.get('nextModelHash')} is not the model "
                    f"{round_text(round_index + 1, bounty.rounds)} trains from on chain "
                    f"({rounds[round_index + 1]['model_hash']})")
            else:
                result.checked.append("next model = the next round's model on chain")
        if differences:
            return self._mismatch(result, differences)
        if copy_unchecked:
            return self._unverifiable(result, copy_unchecked)
        # (c) the scores, once the validation set is revealed
        try:
            spec = self.spec(bounty_id)
        except (QuarryError, TrainerError) as exc:  # the owner could not have trained on it either
            return self._unverifiable(result, f"The bounty's spec cannot be read: {exc}")
        if not spec.verifiable:
            return self._unverifiable(
                result, "The bounty was posted as not verifiable: its validation set stays private. "
                        "Payouts and the next model match the chain.")
        if report.get("version", 1) < 2:
            return self._unverifiable(result, "The report predates version 2 and has no scores to "
                                              "recompute. Payouts match the chain.")
        reveal = self.reveal(bounty_id)
        if reveal is None:
            result.status = NOT_REVEALED
            ended = bounty.status != "open" and bounty.phase == "closed"
            result.detail = ("Payouts and the next model match the chain; " + (
                "the bounty has ended but the practitioner has not revealed its validation set, so "
                "the scores cannot be checked yet." if ended else
                "the scores can be checked once the practitioner reveals the validation set (at "
                "the bounty's end)."))
            return result
        return self._check_scores(result, report, spec, info, reveal)

    def _check_payouts(self, report: dict[str, Any], bounty: Bounty, info: dict[str, Any],
                       store: Store, network: str, result: RoundCheck) -> list[str]:
        differences = []
        if report.get("bountyId") != bounty.id or report.get("round") != result.round:
            differences.append(f"round: the report is for bounty {report.get('bountyId')} round "
                               f"{report.get('round')}")
        if str(report.get("specHash", "")).lower() != bounty.spec_hash.lower():
            differences.append("spec: the report names another spec than the bounty's")
        if str(report.get("modelHash", "")).lower() != info["model_hash"].lower():
            differences.append("model: the report's round model is not the one the round trained from on chain")
        amount = self.amount_text(bounty.token)
        chain = round_payouts(store, network, self.client.board_address, bounty.id, result.round)
        listed: dict[str, int] = {}
        for line in report["contributors"]:
            who = str(line["address"]).lower()
            listed[who] = listed.get(who, 0) + int(line["amount"])
        wrong = sorted(who for who in set(chain) | set(listed) if chain.get(who, 0) != listed.get(who, 0))
        for who in wrong[:5]:
            differences.append(f"payouts: {who} was paid {amount(chain.get(who, 0))} on chain, "
                               f"the report says {amount(listed.get(who, 0))}")
        if len(wrong) > 5:
            differences.append(f"payouts: {len(wrong) - 5} more addresses differ")
        if sum(chain.values()) != int(report["paid"]):
            differences.append(f"payouts: {amount(sum(chain.values()))} paid in all on chain, the "
                               f"report says {amount(int(report['paid']))}")
        if not wrong and sum(chain.values()) == int(report["paid"]):
            result.checked.append("payouts = the chain's, for every address and in total")
        mine = report_line(report, self.account)
        rejected = rejected_line(report, self.account)
        if mine is None and rejected is None:
            differences.append("your submission: the report does not list it")
        elif rejected is not None:
            if str(rejected.get("blobHash", "")).lower() != result.blob_hash.lower():
                differences.append("your submission: the report rejects another blob than yours under your address")
            reason = str(rejected.get("reason", ""))
            refuted = refute_rejection(self.client, self.account, reason, bounty.id, result.round,
                                       result.blob_hash, info["deadline"]) or self._refute_not_invited(reason, bounty.id) \
                or self._refute_replay(reason, bounty.id, result.round, result.blob_hash)
            if refuted:
                differences.append(f"your submission: {refuted}")
        elif mine is not None and str(mine.get("blobHash", "")).lower() != result.blob_hash.lower():
            differences.append("your submission: the report credits another blob to you")
        return differences

    def _check_rules(self, report: dict[str, Any], bounty: Bounty, round_index: int,
                     result: RoundCheck) -> list[str]:
        """The rules a bounty posted with `valuation_rules` >= 1 committed its reports to,
        checked from the report and the chain alone (before any reveal, by every owner):
        - `round_report.rule_differences` (amounts by the pay rule, copies unpaid, next-model
          members by value, denominator = players) and the reward = the bounty's per round;
        - `alongBound` present (Valuation step 3; null only when undefined);
        - the lines are exactly the round's submitters on chain, each once;
        - each copy names an original the report credits, submitted earlier on chain;
        - this owner's rejection gives one of the protocol's reasons.
        Reports of bounties posted before (no `valuation_rules`) were made by other rules
        (amounts in float64, older pay factors), so they are not held to these."""
        try:
            rules = self.spec(bounty.id).valuation_rules
        except (QuarryError, TrainerError):  # said later: the scores cannot be checked
            return []
        if rules < 1:
            return []
        if report.get("version", 1) < 2:  # the rules below, and the scores, need version 2
            return [f"rules: the bounty's spec commits its reports to version 2, and this one is version "
                    f"{report.get('version', 1)} (none of its numbers could be checked)"]
        amount = self.amount_text(bounty.token)
        differences = rule_differences(report, amount)
        if int(report["reward"]) != bounty.reward_per_round:  # the pay rule shares this, not more or less
            differences.append(f"rules: the report shares a reward of {amount(int(report['reward']))}, the "
                               f"bounty's reward per round on chain is {amount(bounty.reward_per_round)}")
        if "alongBound" not in report:
            differences.append(
                "rules: the bounty's spec commits every round report to its bound along the reference "
                "update, and this report leaves it out (an update reaching further along the validation "
                "data's direction was then valued at its whole length)")
        submitters = self.client._call(self.client.board.functions.getSubmitters(bounty.id, round_index), self.block)
        order = {str(address).lower(): index for index, address in enumerate(submitters)}
        listed = [str(line["address"]).lower() for line in [*report["contributors"], *report.get("rejected", [])]]
        if sorted(listed) != sorted(order):
            missing, extra = sorted(set(order) - set(listed)), sorted(set(listed) - set(order))
            twice = sorted({who for who in listed if listed.count(who) > 1})
            differences.append("rules: the report's lines are not the round's submitters on chain, each once"
                               + (f"; not listed: {', '.join(missing[:3])}" if missing else "")
                               + (f"; not submitters: {', '.join(extra[:3])}" if extra else "")
                               + (f"; listed twice: {', '.join(twice[:3])}" if twice else ""))
        originals = {str(line["address"]).lower() for line in report["contributors"] if line.get("copyOf") is None}
        for line in report["contributors"]:
            if line.get("copyOf") is None:
                continue
            who, of = str(line["address"]).lower(), str(line["copyOf"]).lower()
            if of not in originals:
                differences.append(f"copies: {line['address']} is counted as a copy of {line['copyOf']}, "
                                   "which the report does not credit as an original")
            elif order.get(of, math.inf) >= order.get(who, -1):
                differences.append(f"copies: {line['address']} is counted as a copy of {line['copyOf']}, "
                                   "which submitted after it on chain (copies are credited to the earliest)")
        rejected = rejected_line(report, self.account)
        if rejected is not None and not is_protocol_rejection(str(rejected.get("reason", ""))):
            differences.append(f"your submission: the report rejects it for a reason the protocol does not "
                               f"give ({str(rejected.get('reason', ''))[:200]!r})")
        if not differences:
            result.checked.append("the report keeps the rules its spec committed it to: amounts by the pay "
                                  "rule, the reward, the bound, the round's submitters, copies, reasons")
        return differences

    def _check_copy_claim(self, report: dict[str, Any], bounty: Bounty, round_index: int,
                          result: RoundCheck) -> tuple[list[str], str]:
        """(differences, why it cannot be checked now) for a report that counts this owner's
        update as a copy, in a bounty whose spec commits its copy claims to copy proofs
        (`valuation_rules` >= 2, trainer.copy_proof): the practitioner's inbox must serve the
        proof under the token this owner kept when it submitted, and the proof must open blobs
        submitted to this round whose updates link this one to the credited original."""
        from trainer.copy_proof import (
            MAX_PROOF_LINKS,
            CopyProofError,
            OwnUpdateUnknown,
            check_copy_proof,
            max_proof_bytes,
        )
        from trainer.models import Architecture
        from trainer.spec import COPY_PROOF_RULES

        mine = report_line(report, self.account)
        if mine is None or mine.get("copyOf") is None or report.get("version", 1) < 2:
            return [], ""
        try:
            spec = self.spec(bounty.id)
        except (QuarryError, TrainerError):  # said later: the scores cannot be checked
            return [], ""
        if spec.valuation_rules < COPY_PROOF_RULES:
            return [], ""
        copy_of = str(mine["copyOf"])
        claim = f"The report counts your update as a copy of {copy_of} and pays it nothing"
        encoding = spec.encoding_params()
        n_params = Architecture.from_model_spec(spec.model).n_params
        token = copy_proof_token_for(self.client, self.account, bounty.id, round_index, result.blob_hash)
        if token is None:
            return [], (f"{claim}; this computer did not keep what names the claim's copy proof "
                        f"({RECOVER_HINT}).")
        uri = copy_proof_uri(spec.inbox_url, self.rounds(bounty.id)[round_index]["report_uri"], token)
        if uri is None:
            return [], (f"{claim}; the bounty has no inbox, and its report is not in a blob store "
                        "beside which the claim's copy proof could be found.")
        try:
            data = fetch_copy_proof(uri, max_proof_bytes(n_params, encoding), file_roots=self.roots)
        except BlobTooLarge:
            return [f"your submission: the report counts it as a copy of {copy_of}, and the copy proof "
                    f"served is larger than any proof of {MAX_PROOF_LINKS} links can be"], ""
        except NotFound:
            return [f"your submission: the report counts it as a copy of {copy_of}, and the "
                    "practitioner serves no copy proof of that (the spec commits every copy claim to "
                    "one)"], ""
        except QuarryError as exc:
            return [], f"{claim}; its copy proof cannot be fetched now: {exc}"

        def submitted(address: str) -> str | None:
            found = self.client.submission(bounty.id, round_index, address)
            return None if found is None else str(found["blob_hash"])

        # None on a computer that lost it: a proof that opens this owner's own blob stands in
        kept = kept_update_for(self.client, self.account, bounty.id, round_index, result.blob_hash)
        try:
            wrong = check_copy_proof(
                data, bounty_id=bounty.id, round_index=round_index, address=self.account,
                copy_of=copy_of, kept=kept, public_key=spec.public_key(), encoding=encoding,
                submitted_hash=submitted, listed=[str(line["address"]) for line in report["contributors"]],
                n_params=n_params, rules=spec.valuation_rules)
        except OwnUpdateUnknown:
            return [], (f"{claim}; this computer does not keep the update it sent, and the copy proof "
                        "does not open it, so the claim cannot be checked.")
        except CopyProofError as exc:
            wrong = [f"the proof cannot be read ({exc})"]
        if wrong:
            return [f"your submission: the report counts it as a copy of {copy_of}, and the copy proof "
                    f"does not hold: {wrong[0]}"], ""
        result.copy_proof = (f"your update is a copy of {copy_of}: the copy proof opens the blobs that "
                             "link it to that submission")
        result.checked.append(result.copy_proof)
        return [], ""

    def report(self, info: dict[str, Any]) -> dict[str, Any]:
        """A finalised round's report (hash-checked, parsed), fetched once per checker."""
        if info["report_hash"] not in self._reports:
            self._reports[info["report_hash"]] = parse_report(
                fetch_blob(info["report_uri"], info["report_hash"], MAX_REPORT_BYTES, file_roots=self.roots))
        return self._reports[info["report_hash"]]

    def _closing_report(self, bounty: Bounty, after: int) -> tuple[int, dict[str, Any]] | None:
        """(round, report) of the bounty's closing round, when it came after round `after` and
        was finalised; None otherwise (also when it cannot be read: the credits are then not
        checked, as when an earlier report cannot be read)."""
        if bounty.status == "open":
            return None
        rounds = self.rounds(bounty.id)
        closed = [info for info in rounds if info["state"] in ("finalized", "expired")]
        if not closed or closed[-1]["round"] <= after or closed[-1]["state"] != "finalized":
            return None
        try:
            return closed[-1]["round"], self.report(closed[-1])
        except QuarryError:
            return None

    def _check_credits(self, report: dict[str, Any], bounty: Bounty, result: RoundCheck,
                       closing_round: int) -> list[str]:
        """The closing report's leftover credits against the chain's (`getCredit`: this account's
        and the total) and against the rule (`leftover_credits` over the reports of the
        bounty's finalised rounds, the closing one last). A closing report without credits is
        a difference: the board would then share the leftover by pay, a rule the practitioner
        does not get to choose."""
        if "credits" not in report:
            return ["credits: the closing round's report records no leftover credits, so the board "
                    "would share the bounty's leftover by pay instead of by the bounty's pooled values"]
        raw = report["credits"]
        try:
            if not isinstance(raw, dict):
                raise ValueError
            claimed = {str(address).lower(): int(str(credit)) for address, credit in raw.items()}
        except ValueError:
            return ["credits: the report's leftover credits are malformed"]
        differences = []
        mine, total = self.client._call(self.client.board.functions.getCredit(bounty.id, self.account))
        if claimed.get(self.account.lower(), 0) != int(mine) or sum(claimed.values()) != int(total):
            differences.append(f"credits: the chain records {int(mine)} of {int(total)} leftover credits for you, "
                               f"the report {claimed.get(self.account.lower(), 0)} of {sum(claimed.values())}")
        reports = []
        for info in self.rounds(bounty.id)[:closing_round]:
            if info["state"] != "finalized":
                continue
            try:
                reports.append(self.report(info))
            except QuarryError as exc:
                result.checked.append(f"leftover credits not recomputed: an earlier report cannot be read ({exc})")
                return differences
        expected = {address.lower(): credit for address, credit in
                    leftover_credits([*reports, report], bounty.reward_per_round * bounty.rounds)}
        if expected != claimed:
            differences.append(
                f"credits: the bounty's reports give you {expected.get(self.account.lower(), 0)} of "
                f"{sum(expected.values())} leftover credits, the report says "
                f"{claimed.get(self.account.lower(), 0)} of {sum(claimed.values())}")
        elif not differences:
            result.checked.append("leftover credits = the bounty's reports pooled, and the chain's")
        return differences

    def _refute_replay(self, reason: str, bounty_id: int, round_index: int, blob_hash: str) -> str:
        """A rejection as a replay of the previous round's global change, checked against the
        two public models on chain (the round's and the one before): there was none in a first
        round (or when the model did not change), and a kept update further from it than the
        screen's tolerance is no replay. Readable before any reveal."""
        from trainer.alignment import REPLAY_REASON, REPLAY_TOLERANCE, replay_distance

        if not reason.startswith(REPLAY_REASON):
            return ""
        kept = kept_update_for(self.client, self.account, bounty_id, round_index, blob_hash)
        if kept is None:
            return ""
        rounds = self.rounds(bounty_id)
        if round_index == 0 or rounds[round_index - 1]["model_hash"] == rounds[round_index]["model_hash"]:
            return ("the report calls your update a replay of the previous round's global change, but "
                    "the model did not change before this round")
        try:
            spec = self.spec(bounty_id)
            now, before = (self.model(spec, rounds[i]["model_hash"], rounds[i]["model_uri"]).get_params()
                           for i in (round_index, round_index - 1))
        except (QuarryError, TrainerError):
            return ""
        from trainer.encoding import counted_update

        # as the screen measures it: projected onto the clip ball when longer (whole-update noise)
        distance = replay_distance(counted_update(kept, spec.privacy.clip_norm, spec.encoding.precision_bits),
                                   now - before)
        if distance is None or distance <= REPLAY_TOLERANCE * (1 + RELATIVE_TOLERANCE):
            return ""
        return (f"the report calls your update a replay of the previous round's global change, but it "
                f"is {distance:.0%} of that change's length away from it (a replay is within "
                f"{REPLAY_TOLERANCE:.0%})")

    def _refute_not_invited(self, reason: str, bounty_id: int) -> str:
        """A rejection as "not invited" of an owner whose wallet keeps its invitation, signed by
        the key the bounty's spec names (wallet.invitations), or on an open bounty."""
        from wallet.invitations import NOT_INVITED, home_of, kept_invitation

        if not reason.startswith(NOT_INVITED):
            return ""
        try:
            spec = self.spec(bounty_id)
        except (QuarryError, TrainerError):
            return ""
        if spec.invitation_signer is None:
            return "the report says you were not invited, but the bounty is open to everyone"
        home = home_of(self.client)
        if home is not None and kept_invitation(home, self.client.chain_id, self.client.board_address,
                                                bounty_id, self.account, spec.invitation_signer):
            return ("the report says you were not invited, but this wallet keeps your invitation to "
                    f"bounty {bounty_id}, signed by its invitation signer {spec.invitation_signer}")
        return ""

    def _check_scores(self, result: RoundCheck, report: dict[str, Any], spec: Any,
                      info: dict[str, Any], reveal: tuple[str, str]) -> RoundCheck:
        """(c): the revealed set, the round's scores, the owner's own scores from its update and,
        on a bounty that opens its updates, the round's replay. The owner's update is the copy
        this computer kept; when that is missing or damaged, the update the round's opening
        proves stands in for it and the detail says so. An intact copy the opening contradicts
        is a Mismatch (it does not depend on the key, an opening binds only under a well-formed one)."""
        from trainer.reveal import RevealError, parse_validation_reveal
        from trainer.scoring import log_loss

        try:
            data = fetch_blob(reveal[1], reveal[0], REVEAL_MAX_BYTES, file_roots=self.roots)
        except InvalidInput as exc:
            if "does not match" in str(exc):
                return self._mismatch(result, ["validation set: the revealed blob does not match its hash on chain"])
            return self._unverifiable(result, f"The revealed validation set cannot be fetched: {exc}")
        except QuarryError as exc:
            return self._unverifiable(result, f"The revealed validation set cannot be fetched: {exc}")
        try:  # well-formed, the spec's shape, and the set the spec committed to at posting
            x, y, _salt = parse_validation_reveal(
                data, spec.validation_commitment, n_features=spec.n_features, n_classes=spec.n_classes,
                max_bytes=REVEAL_MAX_BYTES)
        except RevealError as exc:
            return self._mismatch(result, [f"validation set: {exc}"])
        if spec.validation_rows is not None and spec.validation_rows != len(y):
            return self._mismatch(result, [f"validation set: the spec declared {spec.validation_rows} rows, "
                                           f"the revealed set has {len(y)}"])
        if spec.validation_class_rows is not None:
            counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=spec.n_classes).tolist()
            if list(spec.validation_class_rows) != counts:
                return self._mismatch(result, [f"validation set: the spec declared {list(spec.validation_class_rows)} "
                                               f"rows per class, the revealed set has {counts}"])
        reused = self.revealed_before(result.bounty_id, spec, x, y)
        if reused:
            return self._mismatch(result, [reused])
        result.checked.append("revealed validation set = the spec's commitment"
                              + (" and its declared size" if spec.validation_rows is not None else "")
                              + (" and rows per class" if spec.validation_class_rows is not None else "")
                              + ("" if spec.public_validation else
                                 ", none of its rows revealed by its practitioner before it was posted"))
        try:
            before_model = self.model(spec, info["model_hash"], info["model_uri"])
            next_hash = str(report["nextModelHash"]).lower()
            after_model = self.model(spec, next_hash, self.next_model_uri(
                result.bounty_id, result.round, next_hash, info["report_uri"]))
        except InvalidInput as exc:
            if "does not match" in str(exc):
                return self._mismatch(result, [f"model: {exc}"])
            return self._unverifiable(result, f"A model of the round cannot be read: {exc}")
        except QuarryError as exc:
            return self._unverifiable(result, f"A model of the round cannot be fetched: {exc}")
        except TrainerError as exc:  # it matches its hash, so the practitioner published it so
            return self._mismatch(result, [f"model: a model of the round is not a valid model ({exc})"])
        before, after = log_loss(before_model, x, y), log_loss(after_model, x, y)
        result.numbers.update(metricBefore=before, metricAfter=after, withEveryone=after)
        differences = []
        for name, mine in (("metricBefore", before), ("metricAfter", after)):
            if not same_number(mine, float(report[name])):
                differences.append(f"scores: the report's {name} is {report[name]!r}, recomputed {mine!r}")
        line = report_line(report, self.account)
        rejected = rejected_line(report, self.account)
        if line is None and rejected is not None:
            refuted = refute_screening(str(rejected.get("reason", "")), spec, before_model.get_params(), x, y,
                                       kept_update_for(self.client, self.account, result.bounty_id,
                                                       result.round, result.blob_hash))
            if refuted:
                differences.append(f"your submission: {refuted}")
        note = ""  # what the detail tells of the copy this computer kept, when the opening stood in for it
        if line is not None:
            kept, damage = read_kept_update_for(self.client, self.account, result.bounty_id, result.round,
                                                result.blob_hash)
            if kept is not None and kept.size != after_model.n_params:
                kept, damage = None, f"it has {kept.size} values, the round's model {after_model.n_params}"
            unopened, opened = "", {}
            if spec.open_updates:  # the spec's parse asks valuation_rules >= 2 of it
                unopened, opened = self._read_opening(report, spec, result, after_model.n_params, differences)
            proven = opened.get(self.account.lower())
            if proven is not None and kept is not None and float(np.max(np.abs(proven - kept))) > 1e-9:
                # an intact kept copy (its digest holds) is evidence that does not depend on the
                # bounty's key, where an opening binds only under a well-formed one (proven in the
                # spec from valuation_rules 3, trainer.key_proof): the two disagreeing is a Mismatch
                differences.append("the round's opening: it opens your update as another than the one you sent "
                                   "(the copy this computer kept reads intact)")
                opened = {}
            elif proven is not None and kept is None:
                # the opening proves what the blob committed on chain holds (read_opening), under a
                # well-formed key: with no intact copy here, the proven update is checked instead
                note = (f"The update this computer kept for that round is damaged ({damage})" if damage else
                        "This computer does not keep the update you sent")
                note += "; your own scores were recomputed from your update as the round's opening proves it."
                kept = proven
                result.checked.append("your own scores recomputed from your update as the round's opening "
                                      "proves it (this computer keeps no intact copy)")
            if kept is None:
                if differences:
                    return self._mismatch(result, differences)
                return self._unverifiable(result, "Payouts, the next model and the round's scores match, but " + (
                    f"the update this computer kept for that round is damaged ({damage})" if damage else
                    "this computer does not keep the update you sent") + ", so your own score cannot be checked.")
            from trainer.alignment import reference_update, round_along_bound
            from trainer.encoding import counted_update

            reference = reference_update(spec, before_model.get_params(), x, y)
            # the round's bound along the reference, once: a report from before it has none
            bound = None if report.get("alongBound") is None and spec.valuation_rules < 1 else \
                round_along_bound(spec, before_model.get_params(), x, y, reference)
            params = after_model.get_params()
            # what the valuation counted: the clip ball's projection of a longer (noised) update
            kept = counted_update(kept, spec.privacy.clip_norm, spec.encoding.precision_bits)
            if line.get("copyOf") is None and spec.valuation_rules >= 1:
                self._check_pay_factor(line, kept, reference, differences, result)
            scale = self._along_scale(report, line, spec, bound, kept, reference, differences)
            if scale < 1.0:  # told, not a fault: the bound is the protocol's (Valuation step 3)
                claimed = report.get("alongBound")
                result.scaled = (
                    f"Your update counted at {scale:.0%} of its length: it reached further along the "
                    f"validation data's own direction than this round's bound"
                    f"{f' ({claimed:.4g})' if isinstance(claimed, float) else ''} allows.")
                result.checked.append(f"your update's scale ({scale:.4f}) recomputed")
            kept = kept * scale
            if line["inModel"]:
                denominator = int(report["denominator"])
                if denominator < 1:
                    differences.append("scores: the report counts your update in a model of 0 updates")
                    return self._mismatch(result, differences, note)
                params = params - kept / denominator
            without_model = after_model.copy()
            without_model.set_params(params)
            without = log_loss(without_model, x, y)
            result.numbers["withoutYou"] = without
            if not same_number(without, float(line["metricWithout"])):
                differences.append(f"your score: the report says the model without you scores "
                                   f"{line['metricWithout']!r}, recomputed {without!r}")
            if spec.valuation_rules >= 1 and line.get("copyOf") is None:
                self._check_own_value(report, line, after_model, before_model.get_params(),
                                      after_model.get_params(), kept, x, y, differences, result)
            if opened:
                self._replay_opening(report, spec, result, before_model, after_model, x, y, reference, bound,
                                     opened, differences)
            if unopened and not differences:
                return self._unverifiable(result, unopened)
        if differences:
            return self._mismatch(result, differences, note)
        result.checked.append("round model, next model and your own scores recomputed")
        result.status = VERIFIED
        result.detail = " ".join(filter(None, (
            "Payouts, the next model and the scores all match what the wallet recomputed.", note)))
        return result

    def _read_opening(self, report: dict[str, Any], spec: Any, result: RoundCheck, n_params: int,
                      differences: list[str]) -> tuple[str, dict[str, np.ndarray]]:
        """A bounty posted with `open_updates` (trainer.openings), once revealed: the round's
        opening, fetched under this owner's token, must open every counted update from the
        blob its owner committed on chain (`read_opening`). Returns (why it cannot be checked
        now, or ""; each counted update it proves, by lower-case address: {} when it cannot be
        checked or does not hold, which is added to `differences`)."""
        from trainer.copy_proof import CopyProofError
        from trainer.openings import RECOMPUTE_MAX_PLAYERS, max_opening_bytes, read_opening

        bounty_id, round_index = result.bounty_id, result.round
        counted = [str(line["address"]) for line in report["contributors"] if line.get("copyOf") is None]
        if not counted:
            return "", {}
        if len(counted) > RECOMPUTE_MAX_PLAYERS:
            return (f"Payouts and your own scores match, but the round's {len(counted)} counted updates are "
                    f"valued by a bounded sampler no wallet reruns (it replays rounds of up to "
                    f"{RECOMPUTE_MAX_PLAYERS}), so the other owners' values cannot be checked."), {}
        token = copy_proof_token_for(self.client, self.account, bounty_id, round_index, result.blob_hash)
        if token is None:
            return ("Payouts and your own scores match, but this computer did not keep what names the round's "
                    f"opening, so the other owners' values cannot be checked ({RECOVER_HINT})."), {}
        uri = copy_proof_uri(spec.inbox_url, self.rounds(bounty_id)[round_index]["report_uri"], token, "openings")
        if uri is None:
            return ("Payouts and your own scores match, but the bounty has no inbox and its report is not in a "
                    "blob store beside which the round's opening could be found."), {}
        encoding = spec.encoding_params()
        try:
            data = fetch_copy_proof(uri, max_opening_bytes(n_params, encoding, len(counted)), file_roots=self.roots)
        except NotFound:
            differences.append("the round's opening: the bounty's spec opens every counted update once the "
                               "validation set is revealed, and the practitioner serves none")
            return "", {}
        except BlobTooLarge:
            differences.append(f"the round's opening is larger than {len(counted)} opened updates can be")
            return "", {}
        except QuarryError as exc:
            return f"Payouts and your own scores match, but the round's opening cannot be fetched now: {exc}", {}

        def submitted(address: str) -> str | None:
            found = self.client.submission(bounty_id, round_index, address)
            return None if found is None else str(found["blob_hash"])

        try:
            problem, updates = read_opening(
                data, bounty_id=bounty_id, round_index=round_index, n_params=n_params, counted=counted,
                public_key=spec.public_key(), encoding=encoding, submitted_hash=submitted)
        except CopyProofError as exc:
            problem, updates = f"it cannot be read ({exc})", {}
        if problem:
            differences.append(f"the round's opening: {problem}")
            return "", {}
        return "", updates

    def _replay_opening(self, report: dict[str, Any], spec: Any, result: RoundCheck, before_model: Any,
                        after_model: Any, x: np.ndarray, y: np.ndarray, reference: np.ndarray,
                        bound: float | None, updates: dict[str, np.ndarray], differences: list[str]) -> None:
        """Every counted line's value, standard error, pay factor and scale, which updates the
        next model holds and the next model itself, recomputed from the round's opened
        `updates` (`_read_opening`). `bound`: the round's bound along the reference. Adds what
        differs to `differences`."""
        from trainer.encoding import counted_update
        from trainer.openings import RecomputedRound, opening_differences, recompute_round
        from trainer.scoring import per_example_log_loss
        from trainer.shapley import round_seed
        from trainer.spec import KEY_PROOF_RULES

        bounty_id, round_index = result.bounty_id, result.round
        round_params = before_model.get_params()
        scorer = before_model.copy()

        def losses(params: np.ndarray) -> np.ndarray:
            scorer.set_params(params)
            return per_example_log_loss(scorer, x, y)

        players = {who: counted_update(update, spec.privacy.clip_norm, spec.encoding.precision_bits)
                   for who, update in updates.items()}
        after = after_model.get_params()

        def replayed(draw: str) -> tuple[RecomputedRound, list[str]]:
            recomputed = recompute_round(round_params, players, losses, reference=reference, along_bound=bound,
                                         seed=round_seed(bounty_id, round_index), draw=draw)
            found = opening_differences(report, recomputed, relative=RELATIVE_TOLERANCE,
                                        factor_tolerance=PAY_FACTOR_TOLERANCE)
            if not np.allclose(recomputed.next_params, after, rtol=RELATIVE_TOLERANCE, atol=RELATIVE_TOLERANCE):
                found.append("the next model is not the round's model plus the opened updates of positive "
                             "value / the number of counted updates")
            return recomputed, found

        recomputed, found = replayed("keccak")
        older = ""
        if found and recomputed.method == "gtg" and spec.valuation_rules < KEY_PROOF_RULES:
            # posted before valuation_rules 3, its rounds may have been valued with numpy-drawn
            # permutations (Quarry before keccak ones): replayed so too before calling it a Mismatch
            again, refound = replayed("numpy")
            if not refound:
                recomputed, found = again, refound
                older = " (its permutations drawn as Quarry drew them before keccak, by numpy's generator)"
        differences.extend(found)
        if not found:
            result.opened = (f"every counted update's value, standard error, pay factor and scale, and the next "
                             f"model, recomputed from the round's {len(updates)} opened updates{older}")
            result.checked.append(result.opened)

    @staticmethod
    def _check_own_value(report: dict[str, Any], line: dict[str, Any], model: Any, round_params: np.ndarray,
                         next_params: np.ndarray, mine: np.ndarray, x: np.ndarray, y: np.ndarray,
                         differences: list[str], result: RoundCheck) -> None:
        """The owner's own value and standard error where it can recompute them: in a round of
        one counted update (its value is its update's alone), or of two that are both in the
        next model (the other's update is then n x (next model - round model) - its own, and
        the exact Shapley value of two players is half its value alone plus half what it adds
        to the other). In larger rounds they depend on updates no owner sees: the
        practitioner's word. `mine` is the update as counted (projected, scaled)."""
        from trainer.estimates import trimmed_mean_and_stderr, utility_clip
        from trainer.scoring import per_example_log_loss

        counted = [other for other in report["contributors"] if other.get("copyOf") is None]
        if len(counted) == 2 and all(bool(other["inModel"]) for other in counted):
            others = 2 * (next_params - round_params) - mine
        elif len(counted) != 1:
            return
        scorer = model.copy()

        def losses(params: np.ndarray) -> np.ndarray:
            scorer.set_params(params)
            return per_example_log_loss(scorer, x, y)

        base = losses(round_params)
        clip = utility_clip(float(base.mean()))

        def utility(params: np.ndarray) -> np.ndarray:
            return np.clip(base - losses(params), -clip, clip)

        n = len(counted)
        if n == 1:
            per_example = utility(round_params + mine / n)
        else:
            per_example = 0.5 * utility(round_params + mine / n) + 0.5 * (
                utility(round_params + (mine + others) / n) - utility(round_params + others / n))
        value, std_err = (float(v[0]) for v in trimmed_mean_and_stderr(per_example[None, :]))
        found = len(differences)
        for name, recomputed in (("value", value), ("stdErr", std_err)):
            theirs = float(line.get(name, 0.0))
            if abs(recomputed - theirs) > RELATIVE_TOLERANCE * max(abs(recomputed), abs(theirs), clip):
                differences.append(f"your {'value' if name == 'value' else 'standard error'}: the report says "
                                   f"{theirs!r}, recomputed {recomputed!r} (a round of {n} counted "
                                   f"update{'s' if n > 1 else ''}, so your wallet can)")
        result.numbers.update(value=value, stdErr=std_err)
        if len(differences) == found:
            result.checked.append(f"your value and standard error recomputed (a round of {n} counted "
                                  f"update{'s' if n > 1 else ''})")

    @staticmethod
    def _check_pay_factor(line: dict[str, Any], kept: np.ndarray, reference: np.ndarray,
                          differences: list[str], result: RoundCheck) -> None:
        """The owner's own pay factor (Valuation step 4) from its kept update's cosine with the
        reference update recomputed on the revealed set: the practitioner cannot hold back
        part of an owner's pay by writing a lower one."""
        from trainer.alignment import alignment_pay_factor, cosine

        mine = 1.0 if not np.any(reference) else alignment_pay_factor(cosine(kept, reference), kept.size)
        theirs = float(line.get("payFactor", 1.0))
        if abs(mine - theirs) > PAY_FACTOR_TOLERANCE:
            differences.append(f"your pay factor: the report says {theirs!r}, recomputed {mine!r} from your "
                               "update's direction against the validation data's")
        else:
            result.checked.append(f"your pay factor ({mine:.4f}) recomputed")

    @staticmethod
    def _along_scale(report: dict[str, Any], line: dict[str, Any], spec: Any, bound: float | None,
                     kept: np.ndarray, reference: np.ndarray, differences: list[str]) -> float:
        """The factor the round's `bound` along the reference (recomputed from the revealed set)
        scales this owner's update by (1 for a report from before the bound); a bound or a
        scale that differs from the report's is added to `differences`."""
        from trainer.alignment import along_scale

        if line.get("copyOf") is not None:  # a copy takes no part in the game or the next model
            return 1.0
        claimed = report.get("alongBound")
        if claimed is None and spec.valuation_rules < 1:  # a report from before the bound
            return 1.0
        if (bound is None) != (claimed is None) or (bound is not None and not same_number(bound, float(claimed))):
            differences.append(f"scores: the report's alongBound is {claimed!r}, recomputed {bound!r}")
        scale = along_scale(kept, reference, bound)
        if not same_number(scale, float(line.get("scale", 1.0))):
            differences.append(f"your update's scale: the report says {line.get('scale', 1.0)!r}, "
                               f"recomputed {scale!r}")
        return scale

    @staticmethod
    def _mismatch(result: RoundCheck, differences: list[str], note: str = "") -> RoundCheck:
        """`note`: a sentence the detail tells after the differences (not one of them)."""
        result.status = MISMATCH
        result.differences = differences
        text = "; ".join(differences)
        result.detail = " ".join(filter(None, (text[:1].upper() + text[1:] + ".", note)))
        return result

    @staticmethod
    def _unverifiable(result: RoundCheck, detail: str) -> RoundCheck:
        result.status = NOT_VERIFIABLE
        result.detail = detail
        return result


def verify_rewards(client: BountyClient, account: str,
                   progress: Callable[[int, int], None] | None = None) -> list[RoundCheck]:
    """Check every round `account` submitted to (newest last); results are recorded in the
    store. Needs a client with a store (the board's events are cached there)."""
    store = client.store
    if store is None:
        raise InvalidInput("Verification needs the local store (the board's events are cached there).")
    summary = client.rewards(account)
    synced_to = sync_board_log(client.w3, store, client.network, client.board_address)
    # A round finalised after the log was read must not look finalised with nothing paid on
    # chain (a false "Mismatch"): the checker reads the rounds at the block the log reached.
    checker = _Checker(client, account, synced_to)
    results = []
    latest: dict[int, int] = {}  # the account's last round per bounty: it checks the closing credits
    for row in summary.rows:
        latest[row.bounty_id] = max(latest.get(row.bounty_id, row.round), row.round)
    for index, row in enumerate(summary.rows):
        try:
            result = checker.check(row.bounty_id, row.round, row.blob_hash, store, client.network,
                                   latest=row.round == latest[row.bounty_id])
        except (QuarryError, TrainerError) as exc:  # the node or a blob failed mid-way: said, not fatal
            result = RoundCheck(row.bounty_id, row.round, row.blob_hash, NOT_VERIFIABLE,
                                f"Could not be checked now: {exc}")
        results.append(result)
        record_result(store, client.network, client.board_address, account, result)
        if progress is not None:
            progress(index + 1, len(summary.rows))
    return results


# -- what this wallet saw ----------------------------------------------------------------------


def record_result(store: Store, network: str, board: str, account: str, result: RoundCheck) -> None:
    store.db["verify_results"].upsert({
        "network": network, "board": board, "bounty_id": result.bounty_id, "round": result.round,
        "account": account, "blob_hash": result.blob_hash, "status": result.status,
        "detail": result.detail, "differences": json.dumps(result.differences),
        "checked_at": time.time(),
    }, pk=("network", "board", "bounty_id", "round", "account"))


def recorded_results(store: Store, network: str, board: str,
                     bounty_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The last result of every check this wallet made on the board (every account)."""
    rows = list(store.db.query(
        "SELECT * FROM verify_results WHERE network = ? AND board = ? ORDER BY bounty_id, round",
        [network, board]))
    if bounty_ids is not None:
        wanted = set(bounty_ids)
        rows = [row for row in rows if row["bounty_id"] in wanted]
    return rows
