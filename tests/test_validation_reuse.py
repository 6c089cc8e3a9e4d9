"""Validation rows used twice (practitioner.validation_reuse): `post` refuses rows another bounty
of the home revealed, and a reveal waits while a bounty that shares its rows still runs. Real
EVM (py-evm), real files, the practitioner's own post / reveal / run code."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak

from practitioner.post import post_bounty
from practitioner.reveal import reveal_due, reveal_validation
from practitioner.state import read_json
from practitioner.validation_reuse import RevealDeferred
from tests.practitioner_fixtures import practitioner_on_market
from trainer.reveal import row_keys
from trainer.spec import BountySpec
from trainer.testing import make_spec_dict
from wallet.errors import InvalidInput

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
SPEC = DEMO / "wine_spec.json"
VALIDATION = DEMO / "wine_validation.csv"


def _post(session, validation: Path, **options):
    return post_bounty(session, SPEC, validation_files=[str(validation)], reward_per_round=10**18,
                       rounds=1, round_seconds=600, **options).bounty_id


def _end(market, session, bounty_id: int) -> None:
    """Close the bounty's only round (nobody submitted) and finalise it: the bounty has ended."""
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    info = session.client.round(bounty_id, 0)
    session.client.finalize(bounty_id, 0, [], [], info.model_hash, info.model_uri,
                            "0x" + keccak(b"no report").hex(), "file:///none")


def _some_rows(tmp_path: Path, first: int, others: Path | None = None) -> Path:
    """A validation file with the first `first` rows of the demo's (in reverse order), then
    every row of `others` (a file of other rows, or none)."""
    lines = VALIDATION.read_text().splitlines()
    rows = lines[1:first + 1][::-1]
    if others is not None:
        rows += others.read_text().splitlines()[1:]
    path = tmp_path / f"validation-{first}.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    return path


def test_rows_match_across_two_bounties_standardisations():
    # the same raw rows standardised by two specs (other means and stds) give the same keys
    raw = make_spec_dict(n_features=5, classes=["a", "b", "c"])
    rng = np.random.default_rng(0)
    rows = rng.normal(10.0, 3.0, size=(6, 5))
    labels = np.array([0, 1, 2, 0, 1, 2])
    keys = []
    for mean, std in ((rows.mean(axis=0), rows.std(axis=0)), (rows[:3].mean(axis=0) + 0.1, rows[:3].std(axis=0) * 3)):
        raw["standardize"] = {"mean": mean.tolist(), "std": std.tolist()}
        spec = BountySpec.from_json(raw)
        keys.append(row_keys(spec, (rows - mean) / std, labels))
    assert keys[0] == keys[1] and len(keys[0]) == 6
    # another label for one row is another row
    assert len(keys[0] & row_keys(spec, (rows - mean) / std, np.array([1, 1, 2, 0, 1, 2]))) == 5


def test_rows_a_bounty_revealed_are_refused_for_the_next_bounty(tmp_path):
    market, session, _ = practitioner_on_market(tmp_path / "home")
    first = _post(session, VALIDATION)
    _end(market, session, first)
    reveal_validation(session, first)
    count = session.client.bounty_count()
    balance = market.token.functions.balanceOf(session.signer.address).call()
    # 12 of the revealed rows among other rows (in another order, under other means and stds)
    other = DEMO / "wine_owner_c.csv"
    mixed = _some_rows(tmp_path, 12, other)
    total = 12 + len(other.read_text().splitlines()) - 1
    for validation, shared in ((VALIDATION, 44), (mixed, 12)):
        with pytest.raises(InvalidInput, match=f"{shared} of the {'44' if shared == 44 else total} validation "
                                               f"rows were revealed with bounty {first}") as refused:
            _post(session, validation)
        assert "--allow-revealed-validation" in str(refused.value)
    # nothing was sent: no bounty, no escrow
    assert session.client.bounty_count() == count
    assert market.token.functions.balanceOf(session.signer.address).call() == balance
    # rows nobody revealed post as before
    fresh = _post(session, other)
    # rows known to be public post when told so, and their bounty says so
    public = _post(session, VALIDATION, allow_revealed_validation=True)
    assert read_json(session.bounty_dir(public) / "bounty.json")["publicValidationRows"] is True
    assert "publicValidationRows" not in read_json(session.bounty_dir(fresh) / "bounty.json")
    # and owners are told, in the spec whose hash is on chain
    from practitioner.evaluate import load_spec
    from wallet.bounties import validation_set_text

    assert load_spec(session, public).public_validation is True
    assert load_spec(session, fresh).public_validation is False
    assert "public_validation" not in load_spec(session, fresh).to_json()  # older specs keep their hash
    text, warned = validation_set_text(load_spec(session, public).to_json())
    assert warned and text.startswith("44 rows, small and public: on a set under 100 rows")
    assert "the practitioner posted them as public" in text
    counts = load_spec(session, fresh).validation_class_rows
    assert counts is not None and min(counts) >= 10  # shown, and not few of any class
    assert validation_set_text({**load_spec(session, fresh).to_json(), "validation_rows": 500}) == (
        f"500 rows; by class: 0 {counts[0]}, 1 {counts[1]}, 2 {counts[2]}", False)
    from wallet.bounties import validation_set_label

    # `quarry bounties show` names the line by what it warns of
    assert validation_set_label(load_spec(session, public).to_json()) == "SMALL VALIDATION SET"  # 44 rows
    assert validation_set_label({"validation_rows": 500, "public_validation": True}) == "PUBLIC VALIDATION ROWS"
    assert validation_set_label({"validation_rows": 500}) == "validation set"
    assert validation_set_label({}) == "validation set"
    text, warned = validation_set_text({"validation_rows": 500, "public_validation": True})
    assert warned and text.startswith("500 rows, public: the practitioner posted them as public (revealed by")
    assert "anyone can train on them and be paid for them as for fresh rows" in text


def test_a_spec_says_public_validation_only_as_true_or_false():
    from trainer.errors import SpecError

    raw = make_spec_dict()
    assert BountySpec.from_json({**raw, "public_validation": True}).public_validation is True
    for bad in ("yes", 1, None):
        with pytest.raises(SpecError, match="'public_validation' must be true or false"):
            BountySpec.from_json({**raw, "public_validation": bad})


def test_a_reveal_waits_while_a_bounty_sharing_its_rows_runs(tmp_path, caplog):
    market, session, _ = practitioner_on_market(tmp_path / "home")
    first = _post(session, VALIDATION)
    with caplog.at_level(logging.WARNING, logger="practitioner.post"):
        second = _post(session, _some_rows(tmp_path, 20))
    assert f"bounty {first}" in caplog.text and "reveal will wait until this bounty has ended" in caplog.text
    _end(market, session, first)
    with pytest.raises(RevealDeferred, match=rf"shares rows with bounties that have not ended \(bounty {second} .*: 20 rows\)"):
        reveal_validation(session, first)
    # the run loop's pass: nothing revealed yet, said at INFO (it asks again every pass)
    with caplog.at_level(logging.INFO, logger="practitioner.reveal"):
        assert reveal_due(session) == []
    assert session.client.reveal(first) is None
    assert "reveal" not in read_json(session.bounty_dir(first) / "bounty.json")
    # once the second bounty ended, the next pass reveals both
    _end(market, session, second)
    revealed = {r.bounty_id for r in reveal_due(session)}
    assert revealed == {first, second}
    assert session.client.reveal(first) is not None and session.client.reveal(second) is not None


def test_a_bounty_posted_with_public_rows_does_not_hold_a_reveal_back(tmp_path, caplog):
    # the embedded network's demo posts its shipped validation files again and again
    market, session, _ = practitioner_on_market(tmp_path / "home")
    first = _post(session, VALIDATION)
    with caplog.at_level(logging.WARNING, logger="practitioner.post"):
        _post(session, VALIDATION, allow_revealed_validation=True)
    assert "reveal will wait" not in caplog.text  # it would not: nothing is held back for it
    _end(market, session, first)
    assert reveal_validation(session, first).tx_hash is not None


def test_an_address_holding_only_revealed_validation_rows_would_take_a_large_share():
    """Why the guard: the benchmark's claim (docs/PROTOCOL.md, "Validation rows used twice") on
    its quick markets. Trained as a wallet does on the validation rows alone, an address takes
    more of a round than the markets' biggest honest owner, and those rows are really worth about
    as much on the test set: the valuation pays them as the fresh rows they look like."""
    from benchmarks.validation_reuse import QUICK_DATASETS, QUICK_SPLITS, run

    results = run(list(QUICK_DATASETS), QUICK_SPLITS)
    for name, table in results["per_dataset"].items():
        assert table["thief_mean_share"] > 0.15, name
        assert table["thief_to_h_big_median_ratio"] > 1.0, name
        assert table["thief_true_mean_share"] > 0.15, name


def test_an_owners_wallet_calls_rows_revealed_before_the_bounty_was_posted_a_mismatch(tmp_path):
    """A practitioner whose tooling does not check (the guard patched out) posts rows an earlier
    bounty of its revealed, without saying so: at the reveal every owner's wallet finds them in
    the earlier reveal on the board and calls the round a Mismatch. The same rows posted as
    public (`public_validation`) are what the spec says, and verify."""
    from unittest.mock import patch

    from tests.verify_fixtures import REWARD, contributing_owners, end_and_reveal, honest_round
    from wallet.verify import MISMATCH, VERIFIED, verify_rewards

    cancer_spec, cancer_validation = DEMO / "breast_cancer_spec.json", [str(DEMO / "breast_cancer_validation.csv")]
    market, session, key = practitioner_on_market(tmp_path / "home")

    def post(**options):
        return post_bounty(session, cancer_spec, validation_files=cancer_validation, reward_per_round=REWARD,
                           rounds=2, round_seconds=600, **options).bounty_id

    first = post()
    for round_index in (0, 1):  # nobody submits: the bounty ends, and its set is revealed
        market.chain.travel_to(market.deadline(first, round_index) + 1)
        info = session.client.round(first, round_index)
        session.client.finalize(first, round_index, [], [], info.model_hash, info.model_uri,
                                "0x" + keccak(b"no report").hex(), "file:///none")
    reveal_validation(session, first)
    with patch("practitioner.post.shared_rows", return_value=[]):
        hidden = post()
    public = post(allow_revealed_validation=True)
    client, owners = contributing_owners(market, session, tmp_path / "owner", [hidden, public],
                                         ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv"])
    world = {"market": market, "session": session, "key": key, "client": client, "owners": owners}
    market.chain.travel_to(max(market.deadline(b, 0) for b in (hidden, public)) + 1)
    for bounty_id in (hidden, public):
        honest_round(world, bounty_id)
        end_and_reveal(world, bounty_id)
    results = {r.bounty_id: r for r in verify_rewards(client, owners[0].address)}
    assert results[hidden].status == MISMATCH
    assert results[hidden].differences == [
        f"validation set: 142 of its 142 rows had been revealed with bounty {first} before this bounty was "
        "posted, and its spec does not say its rows are public: anyone could train on them and be paid for them"]
    assert results[public].status == VERIFIED, results[public].detail
    # an ended bounty says so to an owner who tries to train for it
    from wallet.contribute import ContributeOptions, contribute
    from wallet.errors import QuarryError

    with pytest.raises(QuarryError, match=f"Bounty {hidden} has completed its rounds; it takes no more submissions"):
        contribute(client, owners[0], hidden, [DEMO / "breast_cancer_owner_a.csv"], ContributeOptions(privacy="none"),
                   file_roots=[session.home.root], blob_dir=tmp_path / "owner" / "blobs")
