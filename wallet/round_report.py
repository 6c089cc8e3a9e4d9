"""Reading a round report (a stranger's blob whose keccak256 the practitioner put on chain in
`finalize`): the wallet's side of practitioner/report.py, which writes it. The practitioner
imports `parse_report` from here, so both sides read one format with one parser.

Version 1 (accuracy, leave-one-out) is still read; version 2 (docs/PROTOCOL.md, round
report) is what the wallet verifies: `metric` "log_loss", `metricBefore`/`metricAfter` of
the round's model and of the published next model on the validation set, `denominator`,
and per contributor `address, blobHash, value, stdErr, share, amount, inModel,
metricWithout, copyOf` (and `payFactor`, `scale`: 1 when absent); `alongBound` when the round
bounds how far an update reaches along the practitioner's reference update. Token amounts are decimal strings, returned as ints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from trainer import jsonsafe
from wallet.errors import InvalidInput

if TYPE_CHECKING:
    from wallet.bounties import Bounty, BountyClient, RewardsSummary

REPORT_KIND = "quarry-round-report"
REPORT_VERSIONS = (1, 2)
MAX_REPORT_BYTES = 4 * 1024 * 1024
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _amount(value: Any, what: str) -> int:
    # decimal strings (JSON numbers lose precision past 2^53); ints are accepted too
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"The round report's {what} is not an amount.")
    text = str(value)
    if not text.isdigit() or len(text) > 78:  # uint256 has at most 78 digits
        raise InvalidInput(f"The round report's {what} is not an amount.")
    return int(text)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"The round report's {what} is not a finite number.")
    return float(value)


def _check_v2(report: dict[str, Any]) -> None:
    """The fields a wallet recomputes must be there with the right types."""
    for key in ("bountyId", "round", "denominator"):
        value = report.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"The round report's {key} is not a whole number.")
    for key in ("specHash", "modelHash", "nextModelHash"):
        if not isinstance(report.get(key), str) or not _HASH.match(report[key]):
            raise InvalidInput(f"The round report's {key} is not a 32-byte hash.")
    for key in ("metricBefore", "metricAfter"):
        report[key] = _number(report.get(key), key)
    if report.get("alongBound") is not None:  # absent or null: a report from before the bound
        report["alongBound"] = _number(report["alongBound"], "alongBound")
        if report["alongBound"] < 0:
            raise InvalidInput("The round report's alongBound is negative.")
    for index, line in enumerate(report["contributors"]):
        where = f"contributor {index + 1}"
        if not isinstance(line.get("address"), str) or not _ADDRESS.match(line["address"]):
            raise InvalidInput(f"The round report's {where} has no valid address.")
        if not isinstance(line.get("blobHash"), str):  # compared with the chain's, never used as is
            raise InvalidInput(f"The round report's {where} has no blobHash.")
        if not isinstance(line.get("inModel"), bool):
            raise InvalidInput(f"The round report's {where} does not say whether it is in the model.")
        line["metricWithout"] = _number(line.get("metricWithout"), f"{where}'s metricWithout")
        # value and stdErr feed the pay check (why_unpaid) and the leftover's credits
        line["value"] = _number(line.get("value"), f"{where}'s value")
        if "stdErr" in line:
            line["stdErr"] = _number(line["stdErr"], f"{where}'s stdErr")
            if line["stdErr"] < 0:
                raise InvalidInput(f"The round report's {where} has a negative stdErr.")
        copy_of = line.get("copyOf")
        if copy_of is not None and (not isinstance(copy_of, str) or not _ADDRESS.match(copy_of)):
            raise InvalidInput(f"The round report's {where} has a bad copyOf.")
        factor = _number(line.get("payFactor", 1.0), f"{where}'s payFactor")
        if not 0.0 <= factor <= 1.0:
            raise InvalidInput(f"The round report's {where} has a payFactor outside 0-1.")
        line["payFactor"] = factor
        scale = _number(line.get("scale", 1.0), f"{where}'s scale")
        if not 0.0 <= scale <= 1.0:
            raise InvalidInput(f"The round report's {where} has a scale outside 0-1.")
        line["scale"] = scale


def parse_report(data: bytes) -> dict[str, Any]:
    """Parse and sanity-check a report blob (amounts back to int); InvalidInput says what
    is wrong. Unknown extra fields are kept (a newer practitioner may add some)."""
    if len(data) > MAX_REPORT_BYTES:
        raise InvalidInput("The round report is too large.")
    try:  # a stranger's bytes: nesting-guarded
        report = jsonsafe.loads(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise InvalidInput(f"The round report is not valid JSON: {exc}") from exc
    if not isinstance(report, dict) or report.get("kind") != REPORT_KIND:
        raise InvalidInput("This blob is not a Quarry round report.")
    if report.get("version") not in REPORT_VERSIONS or isinstance(report.get("version"), bool):
        raise InvalidInput(f"Unsupported round report version {report.get('version')!r}.")
    contributors = report.get("contributors")
    rejected = report.get("rejected", [])
    if not isinstance(contributors, list) or not all(isinstance(c, dict) for c in contributors) \
            or not isinstance(rejected, list) or not all(isinstance(r, dict) for r in rejected):
        raise InvalidInput("The round report has malformed contributors.")
    report["reward"] = _amount(report.get("reward"), "reward")
    report["paid"] = _amount(report.get("paid"), "paid")
    for index, line in enumerate(contributors):
        line["amount"] = _amount(line.get("amount"), f"amount of contributor {index + 1}")
    amounts = [line["amount"] for line in contributors]
    if sum(amounts) != report["paid"]:
        raise InvalidInput("The round report's amounts do not add up.")
    if report["version"] >= 2:
        _check_v2(report)
    elif sum(amounts) > report["reward"]:  # v2's pot may hold the carry on top of the reward
        raise InvalidInput("The round report's amounts do not add up.")
    return report


def report_line(report: dict[str, Any], account: str) -> dict[str, Any] | None:
    """The contributor line of `account` (case-insensitive), or None."""
    wanted = account.lower()
    return next((line for line in report.get("contributors", [])
                 if str(line.get("address", "")).lower() == wanted), None)


# The reasons the protocol's practitioner rejects a submission with (practitioner.evaluate,
# .decode, .valuation, .shapley; a test keeps them in step): a report of a bounty posted with
# `valuation_rules` that gives another is a Mismatch for the owner it rejects.
PROTOCOL_REJECTIONS = (
    "blob unavailable", "blob could not be fetched", "blob does not match the hash committed on chain",
    "blob is for bounty ", "blob has ", "unreadable", "undecryptable blob", "wrong number of parameters",
    "update has non-finite values", "zero update", "replay of the previous round's global change",
    "update not aligned with the validation data", "not invited",
)


def is_protocol_rejection(reason: str) -> bool:
    """Whether a rejection reason is one the protocol's practitioner gives (`PROTOCOL_REJECTIONS`)."""
    return reason.startswith(PROTOCOL_REJECTIONS)


def rejected_line(report: dict[str, Any], account: str) -> dict[str, Any] | None:
    wanted = account.lower()
    return next((line for line in report.get("rejected", [])
                 if str(line.get("address", "")).lower() == wanted), None)


# Pay is max(0, value - PAY_CONFIDENCE_Z x stdErr) x payFactor over max(the sum of those,
# PAY_FLOOR x the sum of positive values): trainer.shapley's CONFIDENCE_Z and
# PAYOUT_FLOOR (the wallet does not import the practitioner; a test keeps them equal).
PAY_CONFIDENCE_Z = 2.0
PAY_FLOOR = 1.0


def round_amounts(values: Sequence[float], std_errs: Sequence[float], pay_factors: Sequence[float],
                  reward: int, z: float = PAY_CONFIDENCE_Z, floor: float = PAY_FLOOR) -> list[int]:
    """The round's payouts from its players' values, standard errors and pay factors
    (docs/PROTOCOL.md, Valuation step 4): weight_i = max(0, value_i - z stdErr_i) x factor_i,
    D = max(sum of weights, floor x sum of max(0, value_i)), amount_i = floor(reward x
    weight_i / D). Exact rational arithmetic on the float64 numbers a report carries, so the
    practitioner (`practitioner.valuation.value_round`) and every owner's wallet, reading
    them back from the report, get the same base units. A non-finite number counts 0."""
    def exact(number: float) -> Fraction:
        return Fraction(number) if math.isfinite(number) else Fraction(0)

    zero = Fraction(0)
    weights = [max(zero, exact(v) - exact(z) * exact(se)) * min(max(exact(f), zero), Fraction(1))
               for v, se, f in zip(values, std_errs, pay_factors, strict=True)]
    total = max(sum(weights, zero), exact(floor) * sum((max(zero, exact(v)) for v in values), zero))
    if reward <= 0 or total <= 0:
        return [0] * len(weights)
    return [math.floor(reward * w / total) for w in weights]


def rule_differences(report: Mapping[str, Any], amount_text: Callable[[int], str] | None = None) -> list[str]:
    """Where a version 2 report breaks its own rules, read from the report alone (anyone can
    check them before the validation set is revealed): every amount is `round_amounts` of the
    contributor lines' values, standard errors and pay factors (a copy's line counts 0);
    `denominator` = `players` = the lines that are not copies; a line is in the next model
    exactly when it is not a copy and its value is positive; a copy is paid nothing.
    `amount_text` formats base units (the token's decimals and symbol)."""
    amount_text = amount_text or (lambda units: f"{units} base units")
    if int(report.get("version", 1)) < 2:
        return []
    lines = list(report.get("contributors", []))
    counted = [line for line in lines if line.get("copyOf") is None]
    differences = []
    if not (report.get("players") == report.get("denominator") == len(counted)):
        differences.append(f"rules: the report counts {report.get('players')} players and a denominator of "
                           f"{report.get('denominator')}, but lists {len(counted)} updates that are not copies")
    expected = round_amounts([float(line["value"]) for line in counted],
                             [float(line.get("stdErr", 0.0)) for line in counted],
                             [float(line.get("payFactor", 1.0)) for line in counted], int(report["reward"]))
    wrong = [(line, amount) for line, amount in zip(counted, expected, strict=True) if int(line["amount"]) != amount]
    wrong += [(line, 0) for line in lines if line.get("copyOf") is not None and int(line["amount"]) != 0]
    for line, amount in wrong[:5]:
        differences.append(f"rules: {line['address']} was paid {amount_text(int(line['amount']))}, its value, "
                           f"standard error and pay factor give {amount_text(amount)}")
    if len(wrong) > 5:
        differences.append(f"rules: {len(wrong) - 5} more amounts do not follow from their lines")
    misplaced = [line for line in lines
                 if bool(line["inModel"]) != (line.get("copyOf") is None and float(line["value"]) > 0)]
    for line in misplaced[:5]:
        differences.append(f"rules: {line['address']}'s update is {'' if line['inModel'] else 'not '}in the "
                           f"next model with a value of {float(line['value']):.6g}" +
                           (" as a copy" if line.get("copyOf") is not None else ""))
    if len(misplaced) > 5:
        differences.append(f"rules: {len(misplaced) - 5} more updates are in or out of the next model against their value")
    return differences


def leftover_credits(reports: Sequence[Mapping[str, Any]], total: int,
                     z: float = PAY_CONFIDENCE_Z) -> list[tuple[str, int]]:
    """(address, credit) per account of a bounty: the leftover's shares, recorded on chain in
    the closing round (`assignCredits`) and in its report's `credits`, from the reports of the
    bounty's finalised rounds (version 2; docs/PROTOCOL.md, "Round report").

    Per account, from its counted, non-copy lines:
    - bound B = max(0, sum of values - z sqrt(sum of stdErr^2)) x the mean of its pay factors
      over the rounds it submitted to (a round where its update was rejected or a copy counts
      0; a round it skipped does not count): the round's payout rule with the whole bounty's
      evidence, so value too thin to tell from zero in one round can count over several and
      one lucky round followed by a loss counts nothing;
    - estimate E = max(0, sum of values) x the same mean factor (E >= B).
    With d = sum B / sum E, the part of the leftover the evidence demonstrates, its share is
    d x B / sum B + (1 - d) x E / sum E = (B + (1 - d) E) / sum E: the demonstrated part by
    the lower bounds, the rest by the estimates, continuous as a bound crosses zero (by the
    bounds alone, a lone account whose bound turned positive took everything). Scaled to
    `total`, floored exactly; positive ones only, in address order; none when no estimate is
    positive. The practitioner computes them and an owner's wallet recomputes them."""
    rounds = [r for r in reports if int(r.get("version", 0)) >= 2]
    if not rounds or total <= 0:
        return []
    spelled: dict[str, str] = {}
    value: dict[str, float] = {}
    variance: dict[str, float] = {}
    factor: dict[str, float] = {}
    submitted: dict[str, int] = {}  # rounds each account submitted to (counted, copy or rejected)
    for report in rounds:
        for line in [*report.get("contributors", []), *report.get("rejected", [])]:
            key = str(line.get("address", "")).lower()
            submitted[key] = submitted.get(key, 0) + 1
        for line in report.get("contributors", []):
            if line.get("copyOf") is not None:
                continue
            # parse_report has checked these are finite numbers (stdErr >= 0, payFactor in 0-1)
            v, se, f = float(line["value"]), float(line.get("stdErr", 0.0)), float(line.get("payFactor", 1.0))
            key = str(line["address"]).lower()
            spelled.setdefault(key, str(line["address"]))
            value[key] = value.get(key, 0.0) + v
            variance[key] = variance.get(key, 0.0) + se * se
            factor[key] = factor.get(key, 0.0) + f
    keys = sorted(value)
    mean_factor = [Fraction(factor[k]) / submitted[k] for k in keys]
    bounds = [Fraction(max(0.0, value[k] - z * math.sqrt(variance[k]))) * f for k, f in zip(keys, mean_factor, strict=True)]
    estimates = [Fraction(max(0.0, value[k])) * f for k, f in zip(keys, mean_factor, strict=True)]
    estimated = sum(estimates, Fraction(0))
    if estimated <= 0:
        return []
    undemonstrated = 1 - sum(bounds, Fraction(0)) / estimated  # the part the lower bounds leave
    credits = [(spelled[k], math.floor(total * (b + undemonstrated * e) / estimated))
               for k, b, e in zip(keys, bounds, estimates, strict=True)]
    return [(address, credit) for address, credit in credits if credit > 0]


def why_unpaid(line: dict[str, Any]) -> str:
    """Why a counted update was paid nothing, in words, from its contributor line ("" when it
    was paid or is a version 1 line, which has no standard error and scored accuracy); a
    copy's line names the submission it copies. The Rewards page and `quarry rewards --verify` show it."""
    try:
        amount = int(line.get("amount", 0))
        value = float(line.get("value", 0.0))
        std_err = float(line.get("stdErr", 0.0))
    except (TypeError, ValueError):
        return ""
    copy_of = line.get("copyOf")
    if amount <= 0 and isinstance(copy_of, str) and copy_of:
        return (f"Paid nothing: your update is a copy of {copy_of}'s, submitted earlier in this "
                "round (the same update, re-encrypted or scaled, or the same file trained again "
                "without privacy noise). Copies are credited once, to the earliest submission on "
                "chain.")
    if amount > 0 or copy_of or "stdErr" not in line:
        return ""
    if value <= 0:
        return ("Paid nothing: on the practitioner's validation data your update did not lower "
                "the model's loss on average.")
    if value - PAY_CONFIDENCE_Z * std_err <= 0:
        return (f"Paid nothing: your update helped on average ({value:+.4f}) but by less than "
                f"twice its uncertainty across the validation examples (±{std_err:.4f}), so its "
                "help could not be told apart from chance. Little data, and privacy noise if you "
                "added it, make that more likely; the unpaid reward stays with the bounty's "
                "contributors.")
    factor = line.get("payFactor")
    if isinstance(factor, (int, float)) and factor <= 0:
        return ("Paid nothing: your update's direction was not distinguishable from a random "
                "one on the practitioner's validation data (privacy noise or little data does this).")
    return ""


def fetch_round_report(client: BountyClient, bounty: Bounty, round_index: int) -> dict[str, Any] | None:
    """The finalised round's report, fetched from its URI and checked against the hash on
    chain (None when the round has none yet). Raises QuarryError when it cannot be fetched,
    InvalidInput when it does not match its hash or is not a report."""
    from wallet.blob_store import fetch_blob

    info = client.rounds(bounty)[round_index]
    if int(info["report_hash"], 16) == 0 or not info["report_uri"]:
        return None
    data = fetch_blob(info["report_uri"], info["report_hash"], max_bytes=MAX_REPORT_BYTES,
                      file_roots=client.file_roots)
    return parse_report(data)  # a stranger's bytes: the one guarded reader of reports


def unpaid_reason(report: dict[str, Any], account: str) -> str:
    """Why `account` was paid nothing in the round of `report`, in words ("" when it was
    paid or is not in the report): its rejection, or `why_unpaid` of its counted update."""
    rejected = rejected_line(report, account)
    if rejected is not None:
        return f"Not counted: {rejected.get('reason', 'rejected')}."
    line = report_line(report, account)
    return why_unpaid(line) if line is not None else ""


def unpaid_reasons(client: BountyClient, summary: RewardsSummary, account: str) -> dict[tuple[int, int], str]:
    """(bounty, round) -> why a scored submission of `account` was paid nothing, from the
    round's report (fetched only for those rows; one that cannot be read says so instead).
    `quarry rewards` prints them under its table."""
    from wallet.errors import QuarryError

    reasons: dict[tuple[int, int], str] = {}
    bounties: dict[int, Bounty] = {}
    for row in summary.rows:
        if row.status != "finalised" or row.amount > 0:
            continue
        try:
            if row.bounty_id not in bounties:
                bounties[row.bounty_id] = client.bounty(row.bounty_id)
            report = fetch_round_report(client, bounties[row.bounty_id], row.round)
        except QuarryError as exc:
            reasons[(row.bounty_id, row.round)] = f"Paid nothing; the round report cannot be read: {exc}"
            continue
        why = unpaid_reason(report, account) if report is not None else ""
        if why:
            reasons[(row.bounty_id, row.round)] = why
    return reasons
