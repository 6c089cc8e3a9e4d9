"""wallet.round_report: the one reader of round reports (a stranger's bytes) refuses what it
cannot vouch for, with a clear message, and reads versions 1 and 2."""

from __future__ import annotations

import copy

import pytest

from trainer.spec import canonical_json_bytes
from wallet.errors import InvalidInput
from wallet.round_report import parse_report, rejected_line, report_line

ALICE, BOB = "0x" + "aa" * 20, "0x" + "Bb" * 20
HASH = "0x" + "11" * 32
V2 = {
    "kind": "quarry-round-report", "version": 2, "bountyId": 1, "round": 0, "specHash": HASH,
    "modelHash": HASH, "nextModelHash": HASH, "metric": "log_loss", "metricBefore": 0.69,
    "metricAfter": 0.2, "denominator": 1, "players": 1, "reward": "100", "paid": "120",
    "contributors": [{"address": ALICE, "blobHash": HASH, "value": 0.1, "stdErr": 0.01, "share": 1.2,
                      "amount": "120", "inModel": True, "metricWithout": 0.69, "copyOf": None}],
    "rejected": [{"address": BOB, "blobHash": HASH, "reason": "zero update"}],
}


def _bytes(report):
    return canonical_json_bytes(report)


def test_version_2_is_read_with_amounts_as_ints_and_a_pot_above_the_reward():
    report = parse_report(_bytes(V2))  # 120 paid of a 100 reward: the carry made the pot larger
    assert report["paid"] == 120 and report["contributors"][0]["amount"] == 120
    assert report_line(report, ALICE.upper().replace("0X", "0x"))["inModel"] is True
    assert rejected_line(report, BOB.lower())["reason"] == "zero update"
    assert report_line(report, BOB) is None
    # a line without payFactor (reports before it) reads as paid in full; with it, as said
    assert report["contributors"][0]["payFactor"] == 1.0
    with_factor = copy.deepcopy(V2)
    with_factor["contributors"][0]["payFactor"] = 0.25
    assert parse_report(_bytes(with_factor))["contributors"][0]["payFactor"] == 0.25
    # likewise a line without scale (reports before the bound along the reference) reads as 1,
    # and a report without alongBound has none
    assert report["contributors"][0]["scale"] == 1.0 and "alongBound" not in report
    bounded = copy.deepcopy(V2)
    bounded["alongBound"] = 0.5
    bounded["contributors"][0]["scale"] = 0.75
    read = parse_report(_bytes(bounded))
    assert read["alongBound"] == 0.5 and read["contributors"][0]["scale"] == 0.75


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(version=3), "Unsupported round report version 3"),
    (lambda r: r.update(version=True), "Unsupported round report version"),
    (lambda r: r.update(kind="other"), "not a Quarry round report"),
    (lambda r: r.update(paid="121"), "do not add up"),
    (lambda r: r["contributors"][0].update(amount="-1"), "not an amount"),
    (lambda r: r["contributors"][0].update(amount="1e3"), "not an amount"),
    (lambda r: r["contributors"][0].update(amount=1.5), "not an amount"),
    (lambda r: r["contributors"][0].pop("inModel"), "whether it is in the model"),
    (lambda r: r["contributors"][0].update(metricWithout="0.5"), "not a finite number"),
    (lambda r: r["contributors"][0].update(address="alice"), "no valid address"),
    (lambda r: r["contributors"][0].update(copyOf=12), "bad copyOf"),
    (lambda r: r["contributors"][0].update(payFactor=1.5), "payFactor outside 0-1"),
    (lambda r: r["contributors"][0].update(payFactor="1"), "payFactor is not a finite number"),
    (lambda r: r.update(nextModelHash="0x12"), "nextModelHash is not a 32-byte hash"),
    # value and stdErr feed the leftover's credits, which the wallet recomputes
    (lambda r: r["contributors"][0].update(value="abc"), "value is not a finite number"),
    (lambda r: r["contributors"][0].pop("value"), "value is not a finite number"),
    (lambda r: r["contributors"][0].update(stdErr=[1]), "stdErr is not a finite number"),
    (lambda r: r["contributors"][0].update(stdErr=-0.1), "negative stdErr"),
    (lambda r: r.update(contributors={"a": 1}), "malformed contributors"),
    # the bound along the reference and a contributor's scale, which the wallet recomputes
    (lambda r: r.update(alongBound="0.5"), "alongBound is not a finite number"),
    (lambda r: r.update(alongBound=-1.0), "alongBound is negative"),
    (lambda r: r["contributors"][0].update(scale=1.5), "scale outside 0-1"),
    (lambda r: r["contributors"][0].update(scale=None), "scale is not a finite number"),
])
def test_malformed_reports_are_refused(change, message):
    report = copy.deepcopy(V2)
    change(report)
    with pytest.raises(InvalidInput, match=message):
        parse_report(_bytes(report))


@pytest.mark.parametrize("data", [b"\xff\xfe", b"[1, 2]", b"{", b"[" * 100_000 + b"]" * 100_000])
def test_garbage_is_refused(data):
    with pytest.raises(InvalidInput):
        parse_report(data)


def test_version_1_is_still_read_and_keeps_its_reward_bound():
    v1 = {"kind": "quarry-round-report", "version": 1, "reward": "100", "paid": "60",
          "contributors": [{"address": ALICE, "amount": "60", "metricWith": 0.9}], "rejected": []}
    assert parse_report(_bytes(v1))["contributors"][0]["amount"] == 60
    v1.update(paid="160")
    v1["contributors"][0]["amount"] = "160"
    with pytest.raises(InvalidInput, match="do not add up"):
        parse_report(_bytes(v1))


def test_the_pay_rule_on_numbers_exact_in_binary():
    """Valuation step 4 by hand: weights max(0, value - 2 stdErr) x payFactor = 0.25, 0.0625
    and 0 (a negative lower bound), D = max(0.3125, sum of positive values 0.875) = 0.875."""
    from trainer.shapley import PAYOUT_FLOOR
    from wallet.round_report import PAY_FLOOR, round_amounts

    assert PAY_FLOOR == PAYOUT_FLOOR  # the wallet's copy of the practitioner's constant
    assert round_amounts([0.5, 0.25, 0.125], [0.125, 0.0625, 0.125], [1.0, 0.5, 1.0], 1200) == [342, 85, 0]
    # without the third owner's positive value: D = max(0.3125, 0.75)
    assert round_amounts([0.5, 0.25], [0.125, 0.0625], [1.0, 0.5], 1200) == [400, 100]
    # when the lower bounds make up more than the values (stdErr 0), D is their sum: all paid
    assert round_amounts([0.5, 0.25], [0.0, 0.0], [1.0, 1.0], 1200) == [800, 400]
    assert round_amounts([0.0, -0.5], [0.0, 0.0], [1.0, 1.0], 1200) == [0, 0]  # nobody helped
    assert round_amounts([0.5], [0.0], [1.0], 0) == [0]


def _paid_by_rule(report):
    from wallet.round_report import round_amounts

    counted = [line for line in report["contributors"] if line.get("copyOf") is None]
    amounts = round_amounts([line["value"] for line in counted], [line["stdErr"] for line in counted],
                            [line.get("payFactor", 1.0) for line in counted], int(report["reward"]))
    for line, amount in zip(counted, amounts, strict=True):
        line["amount"] = str(amount)
    report["paid"] = str(sum(amounts))
    return report


def test_a_report_that_breaks_its_own_rules_says_where():
    """`rule_differences`: from the report alone, before any reveal. A report following the
    rules has none; each break (an amount, a paid copy, a member of the next model against
    its value, a denominator that does not count the players) is named."""
    from wallet.round_report import rule_differences

    base = copy.deepcopy(V2)
    base["contributors"].append({"address": BOB, "blobHash": HASH, "value": 0.0, "stdErr": 0.0, "share": 0.0,
                                 "amount": "0", "inModel": False, "metricWithout": 0.2, "copyOf": ALICE})
    base["rejected"] = []
    good = parse_report(_bytes(_paid_by_rule(base)))
    assert good["contributors"][0]["amount"] == 80 and rule_differences(good) == []

    def broken(change):
        report = copy.deepcopy(good)
        change(report)
        return rule_differences(report)

    def underpay(report):
        report["contributors"][0]["amount"] = 10

    def pay_copy(report):
        report["contributors"][1]["amount"] = 5

    def drop_from_model(report):
        report["contributors"][0]["inModel"] = False

    def copy_in_model(report):
        report["contributors"][1]["inModel"] = True

    def miscount(report):
        report["denominator"] = report["players"] = 2

    assert broken(underpay) == [f"rules: {ALICE} was paid 10 base units, its value, standard error and pay "
                                "factor give 80 base units"]
    assert broken(pay_copy) == [f"rules: {BOB} was paid 5 base units, its value, standard error and pay "
                                "factor give 0 base units"]
    assert broken(drop_from_model) == [f"rules: {ALICE}'s update is not in the next model with a value of 0.1"]
    assert broken(copy_in_model) == [f"rules: {BOB}'s update is in the next model with a value of 0 as a copy"]
    assert broken(miscount) == ["rules: the report counts 2 players and a denominator of 2, but lists 1 "
                                "updates that are not copies"]
