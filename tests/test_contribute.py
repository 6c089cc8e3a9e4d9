"""The data owner's contribution flow on a real EVM (py-evm) with a real inbox on 127.0.0.1:
dry run, direct submit, gasless through the relay, cancel, bad data, tampered spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from practitioner.inbox import InboxServer
from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from trainer.errors import DataError, TrainingCancelled
from wallet.blob_store import blob_hash
from wallet.bounties import BountyClient, relay_submission
from wallet.contribute import ContributeOptions, contribute
from wallet.errors import InvalidInput, QuarryError

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
OWNER_FILE = DEMO / "wine_owner_a.csv"


@pytest.fixture(scope="module")
def market_setup(tmp_path_factory):
    market, session, _ = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    practitioner, home = session.signer, session.home

    def relay(payload):
        return relay_submission(market.w3, practitioner, payload, board=market.board.address)

    inbox = InboxServer(home.blob_dir, relay=relay, record_path=home.root / "bodies.bin").start()
    session.inbox_url = inbox.url
    spec = read_spec_file(DEMO / "wine_spec.json")
    posted = post_bounty(session, DEMO / "wine_spec.json", raw_spec=spec,
                         validation_files=[str(DEMO / "wine_validation.csv")],
                         reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=3600)
    session.inbox_url = ""
    local = post_bounty(session, DEMO / "wine_spec.json",
                        validation_files=[str(DEMO / "wine_validation.csv")],
                        reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=3600)
    capped_spec = read_spec_file(DEMO / "wine_spec.json")
    capped_spec["privacy"]["max_noise_multiplier"] = 1.0
    capped = post_bounty(session, DEMO / "wine_spec.json", raw_spec=capped_spec,
                         validation_files=[str(DEMO / "wine_validation.csv")],
                         reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=3600)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id)
    yield market, client, posted.bounty_id, local.bounty_id, inbox, capped.bounty_id
    inbox.stop()


def test_dry_run_sends_nothing(market_setup, tmp_path):
    market, client, inbox_bounty, _, inbox, _ = market_setup
    steps = []
    result = contribute(client, None, inbox_bounty, [OWNER_FILE], ContributeOptions(dry_run=True),
                        blob_dir=tmp_path, progress=lambda s, f, m: steps.append(s))
    assert result.dry_run and result.tx_hash is None and result.uri is None
    assert result.n_rows == 45 and result.blob_hash.startswith("0x")
    assert "Dry run" in result.summary()
    assert {"spec", "model", "data", "train", "encrypt"} <= set(steps)
    assert client.bounty(inbox_bounty).round_submissions == 0
    assert list(tmp_path.iterdir()) == []


def test_direct_submit_to_a_file_bounty(market_setup, tmp_path):
    market, client, _, local_bounty, _, _ = market_setup
    owner = funded_signer(market.chain)
    result = contribute(client, owner, local_bounty, [OWNER_FILE], blob_dir=tmp_path / "blobs")
    assert result.uri.startswith("file://")
    stored = (tmp_path / "blobs" / result.blob_hash).read_bytes()
    assert blob_hash(stored) == result.blob_hash
    submission = client.submission(local_bounty, 0, owner.address)
    assert submission["blob_hash"] == result.blob_hash and submission["uri"] == result.uri
    with pytest.raises(QuarryError, match="already submitted"):
        contribute(client, owner, local_bounty, [OWNER_FILE], blob_dir=tmp_path / "blobs")


def test_gasless_submit_through_the_inbox_relay(market_setup, tmp_path):
    market, client, inbox_bounty, _, inbox, _ = market_setup
    owner = funded_signer(market.chain, eth=0)
    assert market.w3.eth.get_balance(owner.address) == 0
    result = contribute(client, owner, inbox_bounty, [OWNER_FILE], ContributeOptions(gasless=True))
    assert result.uri == f"{inbox.url}/blobs/{result.blob_hash}"
    submission = client.submission(inbox_bounty, 0, owner.address)
    assert submission["blob_hash"] == result.blob_hash
    assert (inbox.upload_dir / result.blob_hash).is_file()
    # the owner's raw values never reached the inbox: only the blob and the relay payload
    recorded = inbox.record_path.read_bytes()
    first_row = OWNER_FILE.read_text().splitlines()[1].split(",")
    assert all(value.encode() not in recorded for value in first_row[:-1] if len(value) > 3)


def test_cancel_and_bad_data_send_nothing(market_setup, tmp_path):
    market, client, _, local_bounty, _, _ = market_setup
    owner = funded_signer(market.chain)
    with pytest.raises(TrainingCancelled):
        contribute(client, owner, local_bounty, [OWNER_FILE], blob_dir=tmp_path,
                   should_stop=lambda: True)
    bad = tmp_path / "bad.csv"
    bad.write_text("alcohol,label\n1.0,0\n")
    with pytest.raises(DataError, match="schema"):
        contribute(client, owner, local_bounty, [bad], blob_dir=tmp_path)
    with pytest.raises(InvalidInput):
        contribute(client, owner, local_bounty, [], blob_dir=tmp_path)
    assert client.submission(local_bounty, 0, owner.address) is None
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_a_spec_that_does_not_match_its_hash_is_refused(market_setup, tmp_path):
    market, client, _, local_bounty, _, _ = market_setup
    bounty = client.bounty(local_bounty)
    path = Path(bounty.spec_uri.removeprefix("file://"))
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b"Wine", b"Vine"))
        with pytest.raises(InvalidInput, match="does not match"):
            contribute(client, None, local_bounty, [OWNER_FILE], ContributeOptions(dry_run=True))
    finally:
        path.write_bytes(original)


def test_cheap_local_checks_come_before_any_network_work(market_setup, tmp_path):
    """A missing file is said before the bounty is read; a noise multiplier over the spec's
    cap once the spec is known, before the model is fetched."""
    market, client, _, local_bounty, _, capped_bounty = market_setup
    steps = []
    with pytest.raises(InvalidInput, match="no such file"):
        contribute(client, None, local_bounty, [OWNER_FILE, tmp_path / "none.csv"],
                   ContributeOptions(dry_run=True), progress=lambda s, f, m: steps.append(s))
    assert steps == []
    with pytest.raises(InvalidInput, match="not a file"):
        contribute(client, None, local_bounty, [tmp_path], ContributeOptions(dry_run=True))
    with pytest.raises(InvalidInput, match=r"at most 1; 2\.5 asked"):
        contribute(client, None, capped_bounty, [OWNER_FILE],
                   ContributeOptions(dry_run=True, noise_multiplier=2.5),
                   progress=lambda s, f, m: steps.append(s))
    assert steps == ["bounty", "spec"]
