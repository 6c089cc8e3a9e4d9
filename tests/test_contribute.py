"""The data owner's contribution flow on a real EVM (py-evm) with a real inbox on 127.0.0.1:
dry run, direct submit, gasless through the relay, cancel, bad data, tampered spec."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from practitioner.inbox import InboxServer
from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from trainer.errors import DataError, TrainingCancelled
from wallet.blob_store import blob_hash
from wallet.bounties import BountyClient, relay_submission
from wallet.contribute import ContributeOptions, Contribution, RepeatedUpdate, contribute
from wallet.errors import InvalidInput, QuarryError

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
OWNER_FILE = DEMO / "wine_owner_a.csv"
# where file:// URIs may be read from: the practitioner's home (its published spec and model)
ROOTS: list[Path] = []


@pytest.fixture(scope="module")
def market_setup(tmp_path_factory):
    market, session, _ = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    practitioner, home = session.signer, session.home
    ROOTS[:] = [home.root]

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
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)
    yield market, client, posted.bounty_id, local.bounty_id, inbox, capped.bounty_id
    inbox.stop()


def test_dry_run_sends_nothing(market_setup, tmp_path):
    market, client, inbox_bounty, _, inbox, _ = market_setup
    steps = []
    result = contribute(client, None, inbox_bounty, [OWNER_FILE], ContributeOptions(dry_run=True),
                        blob_dir=tmp_path, progress=lambda s, f, m: steps.append(s), file_roots=ROOTS)
    assert result.dry_run and result.tx_hash is None and result.uri is None
    assert result.n_rows == 45 and result.blob_hash.startswith("0x")
    assert "Dry run" in result.summary()
    assert {"spec", "model", "data", "train", "encrypt"} <= set(steps)
    assert client.bounty(inbox_bounty).round_submissions == 0
    assert list(tmp_path.iterdir()) == []


def test_direct_submit_to_a_file_bounty(market_setup, tmp_path):
    market, client, _, local_bounty, _, _ = market_setup
    owner = funded_signer(market.chain)
    result = contribute(client, owner, local_bounty, [OWNER_FILE], blob_dir=tmp_path / "blobs", file_roots=ROOTS)
    assert result.uri.startswith("file://")
    stored = (tmp_path / "blobs" / result.blob_hash).read_bytes()
    assert blob_hash(stored) == result.blob_hash
    submission = client.submission(local_bounty, 0, owner.address)
    assert submission["blob_hash"] == result.blob_hash and submission["uri"] == result.uri
    with pytest.raises(QuarryError, match="already submitted"):
        contribute(client, owner, local_bounty, [OWNER_FILE], blob_dir=tmp_path / "blobs", file_roots=ROOTS)


def test_gasless_submit_through_the_inbox_relay(market_setup, tmp_path):
    market, client, inbox_bounty, _, inbox, _ = market_setup
    owner = funded_signer(market.chain, eth=0)
    assert market.w3.eth.get_balance(owner.address) == 0
    result = contribute(client, owner, inbox_bounty, [OWNER_FILE], ContributeOptions(gasless=True), file_roots=ROOTS)
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
                   should_stop=lambda: True, file_roots=ROOTS)
    bad = tmp_path / "bad.csv"
    bad.write_text("alcohol,label\n1.0,0\n")
    with pytest.raises(DataError, match="schema"):
        contribute(client, owner, local_bounty, [bad], blob_dir=tmp_path, file_roots=ROOTS)
    with pytest.raises(InvalidInput):
        contribute(client, owner, local_bounty, [], blob_dir=tmp_path, file_roots=ROOTS)
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
            contribute(client, None, local_bounty, [OWNER_FILE], ContributeOptions(dry_run=True), file_roots=ROOTS)
    finally:
        path.write_bytes(original)


def test_cheap_local_checks_come_before_any_network_work(market_setup, tmp_path):
    """A missing file is said before the bounty is read; a noise multiplier over the spec's
    cap once the spec is known, before the model is fetched."""
    market, client, _, local_bounty, _, capped_bounty = market_setup
    steps = []
    with pytest.raises(InvalidInput, match="no such file"):
        contribute(client, None, local_bounty, [OWNER_FILE, tmp_path / "none.csv"],
                   ContributeOptions(dry_run=True), progress=lambda s, f, m: steps.append(s), file_roots=ROOTS)
    assert steps == []
    with pytest.raises(InvalidInput, match="not a file"):
        contribute(client, None, local_bounty, [tmp_path], ContributeOptions(dry_run=True), file_roots=ROOTS)
    with pytest.raises(InvalidInput, match=r"at most 1; 2\.5 asked"):
        contribute(client, None, capped_bounty, [OWNER_FILE],
                   ContributeOptions(dry_run=True, noise_multiplier=2.5),
                   progress=lambda s, f, m: steps.append(s), file_roots=ROOTS)
    assert steps == ["bounty", "spec"]


def test_the_staged_steps_one_by_one(market_setup, tmp_path):
    """The steps the CLI, the GUI wizard and the autopilot all call: prepare (bounty, spec
    and model inside the allowed roots, schema), train, privatise within the spec's noise cap,
    encrypt, submit; a URI outside the roots is refused, and the roots are required."""
    market, client, _, _, _, capped_bounty = market_setup
    owner = funded_signer(market.chain)
    with pytest.raises(TypeError):
        Contribution(client, capped_bounty, file_roots=None, account=owner.address)  # type: ignore[arg-type]
    # the spec lies in the practitioner's home: a wallet allowed only its own home does not open it
    with pytest.raises(InvalidInput, match="outside"):
        Contribution(client, capped_bounty, file_roots=[tmp_path], account=owner.address).open_round()

    steps: list[str] = []
    contribution = Contribution(client, capped_bounty, file_roots=ROOTS, account=owner.address,
                                progress=lambda s, f, m: steps.append(s))
    contribution.prepare([OWNER_FILE])
    assert contribution.round_index == 0 and contribution.dataset.n_rows == 45
    bad = tmp_path / "other.csv"
    bad.write_text("alcohol,label\n1.0,0\n")
    assert "schema" in contribution.check_file(bad) and contribution.check_file(OWNER_FILE) is None
    epochs: list[int] = []
    trained = contribution.train(2, on_epoch=lambda e, loss, acc: epochs.append(e))
    assert epochs == [1, 2] and trained.noise_multiplier == 0 and math.isinf(trained.epsilon)
    with pytest.raises(InvalidInput, match="at most 1"):
        contribution.privatise(1.5)  # the spec's cap holds whoever calls
    noisy = contribution.privatise(0.5, rng=np.random.default_rng(1))
    assert noisy.epsilon < math.inf and not np.allclose(noisy.delta, trained.delta)
    blob = contribution.encrypt()
    assert contribution.blob_hash == blob_hash(blob)
    # the obfuscators were drawn while training, and each went into one ciphertext
    pool = contribution.obfuscators
    assert pool is not None and pool.wait(30) and pool.available == 0 and pool.handed_out > 0
    result = contribution.submit(owner, blob_dir=tmp_path / "blobs")
    assert result.epsilon == noisy.epsilon and contribution.blob is None
    assert client.submission(capped_bounty, 0, owner.address)["blob_hash"] == result.blob_hash
    assert steps[:4] == ["bounty", "spec", "model", "data"] and "privacy" in steps and steps[-1] == "upload"
    # prepared again for the same round: the account has submitted, so it stops at once
    with pytest.raises(QuarryError, match="already submitted"):
        contribution.prepare([OWNER_FILE])


def test_the_wizard_page_imports_nothing_from_the_trainer():
    """ui/pages/contribute.py keeps widgets and navigation; the work is wallet.contribute's.
    Every import counts, function-level ones included."""
    source = Path(__file__).resolve().parent.parent / "ui" / "pages" / "contribute.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert "wallet.contribute" in imported
    assert not [name for name in imported if name == "trainer" or name.startswith("trainer.")]


def test_a_bounty_whose_blob_limit_is_below_its_models_update_is_refused_before_training(market_setup, tmp_path):
    """A spec whose `max_blob_bytes` is smaller than any update of its model: the practitioner
    would reject every blob unread ("unreadable blob"). `post` refuses to post it; posted by
    another tool, the wallet says so before training, and sends nothing."""
    market, client, _, _, _, _ = market_setup
    session_home = ROOTS[0]
    from practitioner.session import Session
    from practitioner.state import PractitionerHome

    spec = read_spec_file(DEMO / "wine_spec.json")
    spec["max_blob_bytes"] = 100
    practitioner = funded_signer(market.chain)
    market.mint(practitioner.address, TOKEN_UNIT)
    session = Session(home=PractitionerHome(session_home), w3=market.w3, chain_id=market.w3.eth.chain_id,
                      board_address=market.board.address, token_address=market.token.address, signer=practitioner)
    with pytest.raises(InvalidInput, match=r"max_blob_bytes \(100\) is below the size of any update blob"):
        post_bounty(session, DEMO / "wine_spec.json", raw_spec=spec,
                    validation_files=[str(DEMO / "wine_validation.csv")], reward_per_round=TOKEN_UNIT,
                    rounds=1, round_seconds=3600)
    with patch("practitioner.post.blob_size", lambda *args: 0):  # posted by another tool, unchecked
        bounty_id = post_bounty(session, DEMO / "wine_spec.json", raw_spec=spec,
                                validation_files=[str(DEMO / "wine_validation.csv")], reward_per_round=TOKEN_UNIT,
                                rounds=1, round_seconds=3600).bounty_id
    owner = funded_signer(market.chain)
    with pytest.raises(InvalidInput, match=r"accepts update blobs of at most 100 bytes, and an update of its "
                                           r"model takes \d+ bytes: the practitioner would reject yours unread"):
        contribute(client, owner, bounty_id, [OWNER_FILE], blob_dir=tmp_path, file_roots=ROOTS)
    assert client.submission(bounty_id, 0, owner.address) is None and not list(tmp_path.iterdir())


def test_an_update_already_sent_to_another_round_is_refused_when_asked(market_setup, tmp_path):
    """Two bounties posted from one spec start from one model: an owner training without noise
    sends them the same update, and whoever decrypted the first (the practitioner) could send it
    to the second first, from another address, and be credited instead. With `refuse_repeat`
    (the CLI, the GUI and standing contributions) the wallet refuses the second, naming the
    first, and sends nothing; privacy noise makes an update of its own."""
    market, client, _, _, _, _ = market_setup
    from practitioner.session import Session
    from practitioner.state import PractitionerHome
    from wallet.store import Store

    practitioner = funded_signer(market.chain)
    market.mint(practitioner.address, 3 * TOKEN_UNIT)
    session = Session(home=PractitionerHome(ROOTS[0]), w3=market.w3, chain_id=market.w3.eth.chain_id,
                      board_address=market.board.address, token_address=market.token.address, signer=practitioner)
    first, second = (post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                                 reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=3600).bounty_id for _ in range(2))
    store = Store(tmp_path / "home")  # kept updates live in the wallet's home
    keeping = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    owner, other_account = funded_signer(market.chain), funded_signer(market.chain)
    plain = ContributeOptions(privacy="none", refuse_repeat=True)
    sent = contribute(keeping, owner, first, [OWNER_FILE], plain, blob_dir=tmp_path / "blobs", file_roots=ROOTS)
    with pytest.raises(RepeatedUpdate, match=rf"This update is the one you already sent to bounty {first} round 0 "
                                             r"\(1 of 1\) .*Nothing was sent: train with privacy noise"):
        contribute(keeping, owner, second, [OWNER_FILE], plain, blob_dir=tmp_path / "blobs", file_roots=ROOTS)
    # the same rows from another account of this wallet are as exposed
    with pytest.raises(RepeatedUpdate, match=f"the one your account {owner.address.lower()} already sent"):
        contribute(keeping, other_account, second, [OWNER_FILE], plain, blob_dir=tmp_path / "blobs", file_roots=ROOTS)
    assert keeping.submission(second, 0, owner.address) is None
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [sent.blob_hash]
    # the service's callers keep the old behaviour unless they ask (contribute's default is off)
    assert ContributeOptions().refuse_repeat is False
    # with privacy noise the update is another, and goes
    noisy = contribute(keeping, owner, second, [OWNER_FILE], ContributeOptions(privacy="row", refuse_repeat=True),
                       blob_dir=tmp_path / "blobs", file_roots=ROOTS)
    assert keeping.submission(second, 0, owner.address)["blob_hash"] == noisy.blob_hash
    store.close()


def test_quarry_train_refuses_a_repeat_unless_allowed():
    """`quarry train` turns the repeat refusal on; --allow-repeat turns it off."""
    from wallet import cli

    parser = cli.build_parser()
    assert parser.parse_args(["train", "1", "--data", "x.csv"]).allow_repeat is False
    assert parser.parse_args(["train", "1", "--data", "x.csv", "--allow-repeat"]).allow_repeat is True
    # likewise an update without noise to a bounty that opens its updates (tests/test_openings.py)
    assert parser.parse_args(["train", "1", "--data", "x.csv"]).allow_open_update is False
    assert parser.parse_args(["train", "1", "--data", "x.csv", "--allow-open-update"]).allow_open_update is True


def test_a_kept_update_never_committed_is_no_repeat(market_setup, tmp_path):
    """The wallet keeps an update before its commit; one whose commit never happened (a revert,
    a crash) was sent to no one, so it does not count."""
    import numpy as np

    from wallet.kept_updates import kept_path, save_kept_update, sent_before
    from wallet.store import Store

    market, _, bounty_id, _, _, _ = market_setup
    store = Store(tmp_path / "home")
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    account = funded_signer(market.chain).address
    vector = np.linspace(-1.0, 1.0, 40)
    save_kept_update(kept_path(store.home, client.chain_id, client.board_address, bounty_id, 0, account,
                               "0x" + "ab" * 32), vector)
    assert sent_before(client, account, vector, bounty_id + 1, 0) is None
    store.close()
