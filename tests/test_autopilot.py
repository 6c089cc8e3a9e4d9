"""Standing contributions on a real EVM (py-evm) with real Paillier and the real practitioner
evaluating and finalising between 60-second rounds: the autopilot submits in three
consecutive rounds without a click, picks up a file dropped into its folder (and leaves out
one that does not match), waits while locked or on battery, pauses with a reason when a used
file's schema changes, stops at its round limit, and its state survives a restart (a new
Autopilot and a new Store on the same home). Also the power-supply reading and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from practitioner.post import post_bounty
from practitioner.runner import process_due_rounds
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from wallet.autopilot import (
    ACTIVE,
    DONE,
    PAUSED,
    Autopilot,
    add_standing,
    get_standing,
    power_source,
    set_status,
    standing_events,
)
from wallet.bounties import BountyClient
from wallet.errors import InvalidInput
from wallet.store import Store

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
ROUND_SECONDS = 60  # the board's shortest round
NETWORK = "test"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("owner-home")
    # the practitioner's published blobs (file://) inside the owner's home: the allowed root
    market, session, private_key = practitioner_on_market(home / "practitioner")
    validation = [str(DEMO / "wine_validation.csv")]
    bounty = post_bounty(session, DEMO / "wine_spec.json", validation_files=validation,
                         reward_per_round=10 * TOKEN_UNIT, rounds=4, round_seconds=ROUND_SECONDS).bounty_id
    owner = funded_signer(market.chain)
    return market, session, private_key, home, owner, bounty, validation


def _pilot(world, store: Store, *, unlocked: bool = True, power: str = "mains", notes=None) -> Autopilot:
    market, _session, _key, home, owner, _b, _o = world
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, NETWORK,
                          file_roots=[home])
    return Autopilot(store, client, home=home, signer_for=lambda a: owner if unlocked and a == owner.address else None,
                     power=lambda: power, notify=None if notes is None else notes.append)


def _next_round(world) -> None:
    """The round's deadline passes; the practitioner evaluates, pays and opens the next one."""
    market, session, private_key, *_ = world
    market.chain.advance(ROUND_SECONDS + 1)
    process_due_rounds(session, private_key)


def test_three_rounds_without_a_click_then_the_limit(world, tmp_path):
    market, session, _key, home, owner, bounty, _validation = world
    folder = tmp_path / "my-data"
    folder.mkdir()
    shutil.copy(DEMO / "wine_owner_a.csv", folder / "january.csv")
    store = Store(home)
    standing = add_standing(store, NETWORK, market.board.address, bounty, owner.address, [folder],
                            title="Wine cultivar", privacy="none", max_rounds=3, epochs=2, mains_only=True)
    with pytest.raises(InvalidInput, match="already keeps contributing"):
        add_standing(store, NETWORK, market.board.address, bounty, owner.address, [folder])
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)

    # conditions: locked, then on battery: it waits (nothing sent, not paused)
    (waiting,) = _pilot(world, store, unlocked=False).run_pass().outcomes
    assert waiting.action == "waiting" and "unlocked" in waiting.message
    (waiting,) = _pilot(world, store, power="battery").run_pass().outcomes
    assert waiting.action == "waiting" and "mains power" in waiting.message
    assert client.submission(bounty, 0, owner.address) is None

    notes: list[str] = []
    report = _pilot(world, store, notes=notes).run_pass()
    assert [o.action for o in report.outcomes] == ["submitted"]
    assert notes == ["Submitted to round 1 of Wine cultivar"]
    assert client.submission(bounty, 0, owner.address)["blob_hash"].startswith("0x")
    again = _pilot(world, store).run_pass().outcomes
    assert [o.action for o in again] == ["waiting"] and "Already submitted" in again[0].message
    store.close()

    # round 2: a restart (new Store, new Autopilot); a new file dropped in the folder is
    # used, a file in another schema is left out (said once), not a reason to stop
    _next_round(world)
    shutil.copy(DEMO / "wine_owner_b.csv", folder / "february.csv")
    (folder / "notes.csv").write_text("when,what\n2026-01-01,picked\n")
    store = Store(home)
    notes = []
    report = _pilot(world, store, notes=notes).run_pass()
    assert "Submitted to round 2 of Wine cultivar" in notes
    # round 1 was scored: the owner's reward is announced once
    earned = [n for n in notes if n.startswith("Earned ")]
    assert len(earned) == 1 and "QDT" in earned[0], notes
    events = standing_events(store, standing.id)
    submitted = [e for e in events if e["kind"] == "submitted"]
    assert submitted[0]["round"] == 1 and "2 file(s)" in submitted[0]["message"]
    assert submitted[0]["tx_hash"].startswith("0x")
    assert [e for e in events if e["kind"] == "ignored" and "notes.csv" in e["message"]]
    row = get_standing(store, standing.id)
    assert row.rounds_done == 2 and row.status == ACTIVE and row.earned > 0
    assert sorted(Path(f).name for f in row.known_files) == ["february.csv", "january.csv"]

    _next_round(world)
    report = _pilot(world, store).run_pass()
    assert [o.action for o in report.outcomes][:2] == ["submitted", "earned"]
    row = get_standing(store, standing.id)
    assert row.rounds_done == 3 and row.status == DONE and "limit of 3" in row.reason
    assert [e["round"] for e in standing_events(store, standing.id) if e["kind"] == "submitted"] == [2, 1, 0]

    # round 4 opens: the standing contribution has done its three rounds and sends nothing
    _next_round(world)
    assert client.bounty(bounty).current_round == 3
    _pilot(world, store).run_pass()
    assert client.submission(bounty, 3, owner.address) is None
    with pytest.raises(InvalidInput, match="done"):
        set_status(store, standing.id, ACTIVE)
    store.close()


def test_a_changed_schema_pauses_with_the_reason_until_resumed(world, tmp_path):
    market, session, _key, home, owner, _bounty, validation = world
    other = post_bounty(session, DEMO / "wine_spec.json", validation_files=validation,
                        reward_per_round=TOKEN_UNIT, rounds=2, round_seconds=ROUND_SECONDS).bounty_id
    data = tmp_path / "export.csv"
    shutil.copy(DEMO / "wine_owner_c.csv", data)
    with Store(home) as store:
        standing = add_standing(store, NETWORK, market.board.address, other, owner.address, [data],
                                title="Wine cultivar", max_rounds=5, epochs=1, mains_only=False)
        assert standing.privacy == "row"  # DP-SGD unless the owner chooses otherwise
        assert [o.action for o in _pilot(world, store).run_pass().outcomes] == ["submitted"]
    _next_round(world)
    # the owner's export now has other columns
    data.write_text("alcohol,colour,label\n13.1,red,0\n12.2,white,1\n")
    with Store(home) as store:
        outcomes = _pilot(world, store).run_pass().outcomes
        paused = [o for o in outcomes if o.standing_id == standing.id and o.action == "paused"]
        assert len(paused) == 1 and "no longer matches the bounty's schema" in paused[0].message
        row = get_standing(store, standing.id)
        assert row.status == PAUSED and "export.csv" in row.reason and row.rounds_done == 1
        # paused: the next passes do not try again
        assert [o for o in _pilot(world, store).run_pass().outcomes if o.action != "earned"] == []
        # the owner fixes the file and resumes: the round still open is contributed to
        shutil.copy(DEMO / "wine_owner_c.csv", data)
        set_status(store, standing.id, ACTIVE)
        assert "submitted" in [o.action for o in _pilot(world, store).run_pass().outcomes]
        kinds = [e["kind"] for e in reversed(standing_events(store, standing.id)) if e["kind"] != "earned"]
        assert kinds == ["created", "submitted", "paused", "resumed", "submitted"]


def test_the_privacy_budget_pauses_before_anything_is_trained(world, tmp_path):
    market, session, _key, home, owner, _bounty, validation = world
    from wallet.privacy_budget import PrivacyBudget

    bounty = post_bounty(session, DEMO / "wine_spec.json", validation_files=validation,
                         reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=ROUND_SECONDS).bounty_id
    data = tmp_path / "rows.csv"
    shutil.copy(DEMO / "wine_owner_b.csv", data)
    with Store(home) as store:
        PrivacyBudget(store).set_ceiling(0.01)  # far below one DP-SGD round
        try:
            standing = add_standing(store, NETWORK, market.board.address, bounty, owner.address, [data],
                                    title="Wine cultivar", privacy="row", max_rounds=1, mains_only=False)
            outcomes = [o for o in _pilot(world, store).run_pass().outcomes if o.standing_id == standing.id]
            assert [o.action for o in outcomes] == ["paused"]
            row = get_standing(store, standing.id)
            assert row.status == PAUSED and "budget" in row.reason.lower(), row.reason
            assert BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None).submission(
                bounty, 0, owner.address) is None
        finally:
            PrivacyBudget(store).set_ceiling(None)


def test_a_cancelled_bounty_pauses_it(world, tmp_path):
    market, session, _key, home, owner, _bounty, validation = world
    bounty = post_bounty(session, DEMO / "wine_spec.json", validation_files=validation,
                         reward_per_round=TOKEN_UNIT, rounds=3, round_seconds=ROUND_SECONDS).bounty_id
    data = tmp_path / "rows.csv"
    shutil.copy(DEMO / "wine_owner_a.csv", data)
    session.client._send(market.board.functions.cancel(bounty), f"Cancel bounty {bounty}")
    with Store(home) as store:
        standing = add_standing(store, NETWORK, market.board.address, bounty, owner.address, [data],
                                privacy="none", max_rounds=3, mains_only=False)
        outcomes = [o for o in _pilot(world, store).run_pass().outcomes if o.standing_id == standing.id]
        assert [o.action for o in outcomes] == ["paused"]
        assert get_standing(store, standing.id).reason == "the bounty was cancelled"
        assert [e["kind"] for e in standing_events(store, standing.id)] == ["paused", "created"]


def test_power_source_reads_the_linux_power_supply_class(tmp_path):
    def supply(name: str, **values: str) -> None:
        (tmp_path / name).mkdir()
        for key, value in values.items():
            (tmp_path / name / key).write_text(value + "\n")

    assert power_source(tmp_path / "absent") == "unknown"
    assert power_source(tmp_path) == "unknown"  # nothing reported
    supply("AC", type="Mains", online="0")
    assert power_source(tmp_path) == "mains"  # no battery: a desktop
    supply("BAT0", type="Battery", status="Discharging")
    assert power_source(tmp_path) == "battery"
    (tmp_path / "AC" / "online").write_text("1\n")
    assert power_source(tmp_path) == "mains"


def test_the_cli_adds_runs_once_and_lists(tmp_path, capsys, monkeypatch):
    """`quarry autopilot add`, `quarry autopilot --once` (headless), `list`, `pause`, `resume`
    against the embedded network (a real devnet) and a practitioner's bounty on it."""
    import json

    from eth_account import Account

    from devnet.config import CHAIN_ID
    from practitioner.keys import generate_keypair, save_private_key
    from practitioner.session import Session
    from practitioner.state import PractitionerHome
    from tests.anvil import devnet_w3, faucet_signer, start_devnet
    from wallet import keystore
    from wallet.cli import main

    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")
    home = tmp_path / "home"
    account = Account.create()
    (tmp_path / "pw").write_text("pw-1\n")
    (tmp_path / "key").write_text(account.key.hex() + "\n")
    pw = ["--password-file", str(tmp_path / "pw")]
    assert main(["--home", str(home), "wallet", "import", "--private-key-file", str(tmp_path / "key"), *pw]) == 0
    with start_devnet(home / "devnet") as node:
        w3 = devnet_w3(node)
        node.faucet(account.address)
        practitioner_home = PractitionerHome.at(home / "other")  # file:// blobs inside the wallet's home
        _, private_key = generate_keypair(512)
        save_private_key(practitioner_home.key_path, private_key, "pw")
        session = Session(home=practitioner_home, w3=w3, chain_id=CHAIN_ID, board_address=node.board,
                          token_address=node.token, signer=faucet_signer(node))
        bounty_id = post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                                reward_per_round=TOKEN_UNIT, rounds=2, round_seconds=600).bounty_id
        folder = tmp_path / "data"
        folder.mkdir()
        shutil.copy(DEMO / "wine_owner_a.csv", folder)
        run = lambda *argv: main(["--home", str(home), *argv])  # noqa: E731
        assert run("autopilot", "add", str(bounty_id), "--folder", str(folder), "--rounds", "2",
                   "--epochs", "1", "--any-power") == 0
        assert "keeps contributing" in capsys.readouterr().out
        assert run("autopilot", "--once", *pw) == 0
        out = capsys.readouterr().out
        assert "Submitted to round 1 of" in out, out
        client = BountyClient(w3, node.board, CHAIN_ID, file_roots=None)
        assert client.submission(bounty_id, 0, account.address) is not None
        assert run("autopilot", "pause", "1") == 0
        assert run("autopilot", "list", "--json") == 0
        (listed,) = json.loads(capsys.readouterr().out.split("\n", 1)[1])
        assert listed["status"] == "paused" and listed["roundsDone"] == 1 and listed["reason"] == "by hand"
        assert run("autopilot", "resume", "1") == 0
        assert run("autopilot", "list") == 0
        assert "active; 1 of at most 2 rounds" in capsys.readouterr().out

        # headless, as a service runs it: passes until SIGTERM, which stops it cleanly
        import os
        import signal
        import subprocess
        import sys

        repo = Path(__file__).resolve().parents[1]
        service = subprocess.Popen(
            [sys.executable, "-m", "wallet.cli", "--home", str(home), "autopilot", "--interval", "1", *pw],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=str(repo)))
        try:
            line = service.stdout.readline()
            assert "[1] Already submitted to round 1 of 2" in line, line + service.stderr.read()
            service.send_signal(signal.SIGTERM)
            out, err = service.communicate(timeout=30)
        finally:
            if service.poll() is None:
                service.kill()
        assert service.returncode == 0 and out.rstrip().endswith("Stopped."), (out, err)


@pytest.mark.parametrize("privacy", ["none", "dataset"])  # "dataset" without --dp-noise: no noise either
def test_an_update_without_noise_is_not_sent_to_a_bounty_that_opens_updates(world, tmp_path, monkeypatch, privacy):
    """A bounty posted with `open_updates` shows each counted update to the round's other
    contributors once revealed: a standing contribution without privacy noise pauses, says why
    and how to go on, and sends nothing (it checks before training)."""
    from practitioner.post import read_spec_file

    market, session, _key, home, owner, _bounty, validation = world
    raw = read_spec_file(DEMO / "wine_spec.json")
    raw["open_updates"] = True
    bounty = post_bounty(session, DEMO / "wine_spec.json", raw_spec=raw, validation_files=validation,
                         reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=ROUND_SECONDS).bounty_id
    data = tmp_path / "rows.csv"
    shutil.copy(DEMO / "wine_owner_b.csv", data)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)

    def trained(*args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr("wallet.contribute.Contribution.train", trained)
    with Store(home) as store:
        standing = add_standing(store, NETWORK, market.board.address, bounty, owner.address, [data],
                                privacy=privacy, max_rounds=1, mains_only=False)
        outcomes = [o for o in _pilot(world, store).run_pass().outcomes if o.standing_id == standing.id]
        assert [o.action for o in outcomes] == ["paused"]
        reason = get_standing(store, standing.id).reason
        assert "opens every counted update" in reason and "protect each row" in reason, reason
        assert client.submission(bounty, 0, owner.address) is None


def test_an_update_already_sent_to_another_round_pauses_it_naming_that_round(world, tmp_path):
    """Two bounties posted from one spec start from one model: standing contributions without
    privacy noise on both would send the second the update already sent to the first, which
    whoever decrypted that one (the practitioner) could send first from another address. The
    autopilot sends the first, then pauses the second with the reason, naming the first round,
    and how to go on; nothing is committed to the second and later passes do not try again."""
    market, session, _key, home, owner, _bounty, validation = world
    first, second = (post_bounty(session, DEMO / "wine_spec.json", validation_files=validation,
                                 reward_per_round=TOKEN_UNIT, rounds=1, round_seconds=ROUND_SECONDS).bounty_id
                     for _ in range(2))
    data = tmp_path / "rows.csv"
    shutil.copy(DEMO / "wine_owner_b.csv", data)  # sent nowhere else in this module without noise
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)
    with Store(home) as store:
        sent, repeat = (add_standing(store, NETWORK, market.board.address, bounty, owner.address, [data],
                                     title=f"Wine {bounty}", privacy="none", max_rounds=1, epochs=1,
                                     mains_only=False) for bounty in (first, second))
        outcomes = {o.standing_id: o for o in _pilot(world, store).run_pass().outcomes
                    if o.standing_id in (sent.id, repeat.id)}
        assert outcomes[sent.id].action == "submitted"
        assert client.submission(first, 0, owner.address) is not None
        assert outcomes[repeat.id].action == "paused"
        row = get_standing(store, repeat.id)
        assert row.status == PAUSED and row.rounds_done == 0
        assert f"already sent to bounty {first} round 0 (1 of 1)" in row.reason, row.reason
        assert "Nothing was sent" in row.reason and "protect each row" in row.reason, row.reason
        assert client.submission(second, 0, owner.address) is None
        # paused: the next pass does not train or send again
        assert [o for o in _pilot(world, store).run_pass().outcomes if o.standing_id == repeat.id] == []
        assert client.submission(second, 0, owner.address) is None
        events = standing_events(store, repeat.id)
        assert [e["kind"] for e in events] == ["paused", "created"]
        assert events[0]["round"] == 0 and f"bounty {first}" in events[0]["message"]
