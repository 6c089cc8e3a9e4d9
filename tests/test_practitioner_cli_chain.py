"""quarry-practitioner against the embedded network served in-process on a free port, as a
practitioner types it: which account signs, which commands ask for which password, how
rounds and token amounts read, and bad input that must change nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from practitioner.cli import main
from practitioner.post import post_bounty
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.anvil import devnet_w3, faucet_signer, start_devnet
from tests.practitioner_fixtures import practitioner_home_on_devnet
from wallet.bounties import BountyClient

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
KEY_PASSWORD = "paillier pw"
WALLET_PASSWORD = "wallet pw"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A devnet, and a practitioner home holding a Paillier key and a wallet whose first
    account the faucet funded (1000 QDT)."""
    base = tmp_path_factory.mktemp("practitioner-cli")
    with start_devnet(base / "devnet") as node:
        ctx = node.context()
        home = base / "home"
        first = practitioner_home_on_devnet(node, home, base, key_password=KEY_PASSWORD,
                                            wallet_password=WALLET_PASSWORD)
        (base / "wrong-pw").write_text("not the password\n")
        chain = ["--home", str(home), "--rpc", node.url, "--board", ctx.board, "--token", ctx.token]
        # a bounty of the first account's (2 rounds of 2.5 QDT), so each test stands alone
        session = Session(home=PractitionerHome.at(home), w3=devnet_w3(node), chain_id=ctx.chain_id,
                          board_address=ctx.board, token_address=ctx.token, signer=first)
        bounty_id = post_bounty(session, DEMO / "wine_spec.json",
                                validation_files=[str(DEMO / "wine_validation.csv")],
                                reward_per_round=25 * 10**17, rounds=2, round_seconds=600,
                                allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
        # and one whose only round closes at once, with nobody submitting
        short_id = post_bounty(session, DEMO / "wine_spec.json",
                               validation_files=[str(DEMO / "wine_validation.csv")],
                               reward_per_round=10**18, rounds=1, round_seconds=3,
                               min_round_seconds=3, allow_revealed_validation=True).bounty_id
        yield {"node": node, "ctx": ctx, "home": home, "base": base, "first": first.address, "signer": first,
               "chain": chain, "bounty": bounty_id, "short": short_id,
               "client": BountyClient(devnet_w3(node), ctx.board, ctx.chain_id, file_roots=None)}


def _post(market, *extra: str) -> list[str]:
    return ["post", str(DEMO / "wine_spec.json"), "--validation", str(DEMO / "wine_validation.csv"),
            "--rounds", "2", "--round-seconds", "600", *market["chain"],
            "--allow-revealed-validation", *extra]  # the demo's public rows, in many bounties of one home


def test_post_refuses_a_wrong_paillier_password_and_changes_nothing(market, capsys):
    client, home = market["client"], market["home"]
    before, files = client.count(), _snapshot(home)
    code = main(_post(market, "--reward", "1", "--password-file", str(market["base"] / "wrong-pw"),
                      "--wallet-password-file", str(market["base"] / "wallet-pw")))
    err = capsys.readouterr().err
    assert code == 1 and err == "error: Wrong password for the Paillier key.\n"
    assert client.count() == before and _snapshot(home) == files


def test_post_signs_with_the_wallets_first_account_and_shows_amounts_in_tokens(market, capsys):
    client, base = market["client"], market["base"]
    code = main(_post(market, "--reward", "2.5", "--password-file", str(base / "key-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    bounty_id = client.count()
    assert captured.out == f"{bounty_id}\n"  # the id alone: BOUNTY=$(quarry-practitioner post ...)
    bounty = client.bounty(bounty_id)
    assert bounty.owner == market["first"] and bounty.reward_per_round == 25 * 10**17
    assert captured.err.startswith(
        f'Posted bounty {bounty_id} "Wine cultivar": 2 round(s) of 2.5 QDT (5 QDT in escrow)')
    assert "round 0 (1 of 2) is open" in captured.err
    assert "note: no --inbox-url, so the spec, models and updates are file:// blobs" in captured.err
    # an owner's wallet reads file:// blobs only inside its own home: said, not "anyone on this computer"
    assert "a data owner's wallet reads file:// blobs only inside its own home" in captured.err

    # too large an escrow: said in tokens with the symbol, nothing posted or stored
    files = _snapshot(market["home"])
    code = main(_post(market, "--reward", "200000", "--password-file", str(base / "key-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "The escrow needs 400000 QDT (2 rounds of 200000 QDT)" in err and "base units" not in err
    assert client.count() == bounty_id and _snapshot(market["home"]) == files

    # a bounty whose validation set stays private says so in its (hash-committed) spec
    code = main(_post(market, "--reward", "1", "--not-verifiable", "--password-file", str(base / "key-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    assert code == 0, capsys.readouterr().err
    private, _problem = client.fetch_spec(client.bounty(client.count()))
    assert private["verifiable"] is False
    assert "verifiable" not in client.fetch_spec(bounty)[0]  # the default is left out
    assert "open_updates" not in client.fetch_spec(bounty)[0]

    # a bounty that opens its updates at the reveal says so in its spec; it cannot also keep
    # its validation set private (nothing would be revealed to open them at)
    code = main(_post(market, "--reward", "1", "--open-updates", "--password-file", str(base / "key-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    assert code == 0, capsys.readouterr().err
    assert client.fetch_spec(client.bounty(client.count()))[0]["open_updates"] is True
    posted = client.count()
    code = main(_post(market, "--reward", "1", "--open-updates", "--not-verifiable", "--password-file",
                      str(base / "key-pw"), "--wallet-password-file", str(base / "wallet-pw")))
    err = capsys.readouterr().err
    assert code == 1 and "'open_updates' needs a verifiable bounty" in err and client.count() == posted


def test_read_only_commands_ask_for_no_password(market, capsys, monkeypatch):
    # no terminal and no password file: any password prompt would be an error
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - closed by pytest
    bounty_id = market["bounty"]
    code = main(["status", str(bounty_id), "--account", market["first"], *market["chain"]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"#{bounty_id} Wine cultivar [open] round 0 (1 of 2) open, closes in" in captured.out
    assert "2.5 QDT per round, 5 QDT in escrow" in captured.out
    # a command that signs names the option when it cannot prompt
    code = main(_post(market, "--reward", "1", "--password-file", str(market["base"] / "key-pw")))
    assert code == 1 and capsys.readouterr().err == (
        "error: The wallet password is needed: give --wallet-password-file F "
        "(there is no terminal to ask on).\n")
    code = main(["status", str(bounty_id), "--json", *market["chain"]])
    row = json.loads(capsys.readouterr().out)
    assert row["currentRound"] == 0 and row["rewardPerRound"] == str(25 * 10**17)


def test_round_arguments_are_on_chain_indexes(market, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115 - no terminal to ask on
    bounty_id = market["bounty"]
    pw = ["--password-file", str(market["base"] / "key-pw")]
    assert main(["evaluate", str(bounty_id), "2", *pw, *market["chain"]]) == 1
    assert (f"error: Bounty {bounty_id} has no round 2: its rounds are numbered 0 to 1 "
            "(round 0 is the first).") in capsys.readouterr().err
    assert main(["evaluate", str(bounty_id), "1", *pw, *market["chain"]]) == 1
    assert (f"error: Bounty {bounty_id} round 1 (2 of 2) is not the current round; that is "
            "round 0 (1 of 2).") in capsys.readouterr().err
    assert main(["evaluate", str(bounty_id), "0", *pw, *market["chain"]]) == 1
    assert f"Bounty {bounty_id} round 0 (1 of 2) is still open for" in capsys.readouterr().err
    # said before any password is asked for (no password file, no terminal here)
    assert main(["evaluate", str(bounty_id), "0", *market["chain"]]) == 1
    assert f"Bounty {bounty_id} round 0 (1 of 2) is still open for" in capsys.readouterr().err
    assert main(["finalize", str(bounty_id), "0", *market["chain"]]) == 1  # no password asked
    assert capsys.readouterr().err.startswith(
        f"error: Bounty {bounty_id} round 0 (1 of 2) has not closed yet (")


@pytest.mark.parametrize("command", [["status"], ["keygen", "--bits", "512"], ["serve", "--port", "0"]])
def test_a_home_that_is_a_file_is_one_line(tmp_path, capsys, command):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory")
    (tmp_path / "pw").write_text("pw\n")
    code = main([*command, "--home", str(in_the_way), "--password-file", str(tmp_path / "pw")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: Cannot use {in_the_way} as the Quarry data directory")
    assert in_the_way.read_text() == "not a directory"


def _wait_for_deadline(client, bounty_id, seconds=30):
    """Until the bounty's current round has closed on chain (real time on the devnet)."""
    deadline = time.monotonic() + seconds
    while client.now() < client.bounty(bounty_id).round_deadline and time.monotonic() < deadline:
        time.sleep(0.5)


def test_evaluate_and_finalize_a_round_nobody_submitted_to(market, capsys):
    client, bounty_id = market["client"], market["short"]
    _wait_for_deadline(client, bounty_id)
    # closed, not finalised: the bounty has not ended, and `reveal` says what to run first
    assert main(["reveal", str(bounty_id), *market["chain"]]) == 1
    assert (f"Bounty {bounty_id} has not ended yet: round 0 (1 of 1) has closed but is not finalised; run "
            f"`quarry-practitioner evaluate {bounty_id} 0` and `finalize {bounty_id} 0`, then reveal.") \
        in capsys.readouterr().err
    # `status` says the round closed (on chain it stays "open" until finalised) and what to do
    assert main(["status", str(bounty_id), *market["chain"]]) == 0
    line = capsys.readouterr().out
    assert "[open] round 0 (1 of 1) closed: evaluate and finalize it (`run` does), 0 submission(s)" in line, line
    pw = ["--password-file", str(market["base"] / "key-pw")]
    assert main(["evaluate", str(bounty_id), "0", *pw, *market["chain"]]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"bounty {bounty_id} round 0 (1 of 1): log_loss ")
    assert "(no update accepted); pays 0 QDT of 1 QDT (1 QDT go back to your claimable balance)" in out
    assert f"send it with `quarry-practitioner finalize {bounty_id} 0`" in out
    assert main(["finalize", str(bounty_id), "0", "--wallet-password-file", str(market["base"] / "wallet-pw"),
                 *market["chain"]]) == 0
    assert capsys.readouterr().out.startswith(f"bounty {bounty_id} round 0 (1 of 1) finalized: 0x")
    # ended: what the board still holds is owed to contributors (none here), not an escrow
    assert main(["status", str(bounty_id), *market["chain"]]) == 0
    assert "[completed]" in (line := capsys.readouterr().out) and "0 QDT not yet claimed by its contributors" in line
    assert client.bounty(bounty_id).status == "completed"


def test_evaluate_waits_for_a_committed_update_not_uploaded_yet(market, capsys, tmp_path):
    """An owner committed just before the deadline and is still uploading: `evaluate` says so
    and evaluates nothing (as `run` waits for it), unless told --now, which rejects it."""
    from eth_account import Account

    from wallet.blob_store import blob_hash

    node, client = market["node"], market["client"]
    session = Session(home=PractitionerHome.at(market["home"]), w3=devnet_w3(node),
                      chain_id=market["ctx"].chain_id, board_address=market["ctx"].board,
                      token_address=market["ctx"].token, signer=faucet_signer(node))
    bounty_id = post_bounty(session, DEMO / "wine_spec.json",
                            validation_files=[str(DEMO / "wine_validation.csv")],
                            reward_per_round=10**18, rounds=1, round_seconds=3, min_round_seconds=3,
                            allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
    owner = Account.create()
    node.faucet(owner.address)
    on_its_way = tmp_path / "update.bin"  # where the owner is writing it
    client.submit(owner, bounty_id, blob_hash(b"on its way"), on_its_way.as_uri())
    _wait_for_deadline(client, bounty_id)
    pw = ["--password-file", str(market["base"] / "key-pw")]
    assert main(["evaluate", str(bounty_id), "0", *pw, *market["chain"]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 committed update(s) of this round are not uploaded yet") and "--now" in err
    assert client.rounds(client.bounty(bounty_id))[0]["state"] == "open"
    assert main(["evaluate", str(bounty_id), "0", "--now", "--json", *pw, *market["chain"]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["reason"].split(":")[0] for r in report["rejected"]] == ["blob unavailable"]


def test_reveal_publishes_where_the_bounty_serves_its_blobs(market, capsys):
    """A bounty posted with an inbox URL is revealed under that URL even when `reveal` is run
    without --inbox-url (as `evaluate` publishes): a reveal is made once on chain, and a
    file:// URI on the practitioner's machine would leave every owner unable to check."""
    client, base = market["client"], market["base"]
    session = Session(home=PractitionerHome.at(market["home"]), w3=devnet_w3(market["node"]),
                      chain_id=market["ctx"].chain_id, board_address=market["ctx"].board,
                      token_address=market["ctx"].token, signer=market["signer"],
                      inbox_url="http://127.0.0.1:9/inbox")
    bounty_id = post_bounty(session, DEMO / "wine_spec.json",
                            validation_files=[str(DEMO / "wine_validation.csv")],
                            reward_per_round=10**18, rounds=1, round_seconds=3, min_round_seconds=3,
                            allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
    _wait_for_deadline(client, bounty_id)
    wallet_pw = ["--wallet-password-file", str(base / "wallet-pw")]
    # nobody submitted: evaluated and finalised, the bounty ends
    assert main(["evaluate", str(bounty_id), "0", "--password-file", str(base / "key-pw"), *market["chain"]]) == 0
    assert main(["finalize", str(bounty_id), "0", *wallet_pw, *market["chain"]]) == 0
    capsys.readouterr()
    assert main(["reveal", str(bounty_id), "--json", *wallet_pw, *market["chain"]]) == 0, capsys.readouterr().err
    answer = json.loads(capsys.readouterr().out)
    assert answer["uri"] == f"http://127.0.0.1:9/inbox/blobs/{answer['dataHash']}"
    assert client.board.functions.getReveal(bounty_id).call()[1] == answer["uri"]


def test_reveal_only_once_the_bounty_ended(market, capsys):
    """`reveal` publishes the validation set the spec committed to (salt and rows), as a blob
    owners parse with trainer.reveal, and records its hash on chain; before the end it refuses
    without asking for a password, and a repeat sends nothing."""
    from trainer.reveal import parse_validation_reveal
    from trainer.spec import BountySpec
    from wallet.blob_store import fetch_blob

    client, wallet_pw = market["client"], ["--wallet-password-file", str(market["base"] / "wallet-pw")]
    assert main(["reveal", str(market["bounty"]), *market["chain"]]) == 1  # still open: no password asked
    err = capsys.readouterr().err
    assert f"Bounty {market['bounty']} has not ended yet (round 0 (1 of 2) is open)" in err
    short = market["short"]
    deadline = time.monotonic() + 30
    while client.bounty(short).status == "open" and time.monotonic() < deadline:
        if client.now() >= client.bounty(short).round_deadline:  # finalise it if no other test did
            # (this test may run alone: with pytest-xdist the module's tests are spread)
            main(["evaluate", str(short), "0", "--password-file", str(market["base"] / "key-pw"),
                  *market["chain"]])
            main(["finalize", str(short), "0", *wallet_pw, *market["chain"]])
        time.sleep(0.5)
    capsys.readouterr()
    assert main(["reveal", str(short), "--json", *wallet_pw, *market["chain"]]) == 0
    answer = json.loads(capsys.readouterr().out)
    data_hash, uri = client.board.functions.getReveal(short).call()
    assert ("0x" + data_hash.hex(), uri) == (answer["dataHash"], answer["uri"])
    bounty = client.bounty(short)
    spec = BountySpec.from_json_bytes(fetch_blob(bounty.spec_uri, bounty.spec_hash, file_roots=None))
    x, y, _salt = parse_validation_reveal(fetch_blob(uri, answer["dataHash"], file_roots=None), spec.validation_commitment,
                                          n_features=spec.model.n_features, n_classes=spec.model.n_classes)
    assert len(x) == len(y) > 0
    assert main(["reveal", str(short), *wallet_pw, *market["chain"]]) == 0
    assert "was already revealed" in capsys.readouterr().out


def test_a_key_file_from_before_key_proofs_gains_its_proof_when_post_unlocks_it(market, capsys):
    """A key file written before key proofs has none: posting from Python says so and posts
    nothing; `quarry-practitioner post` asks the key password first (a wrong one changes
    nothing), adds the proof to the file and posts a spec that carries it, which the owner's
    wallet checks (valuation_rules 3)."""
    from practitioner.keys import load_key_proof
    from trainer.key_proof import modulus_proof_problem
    from trainer.spec import BountySpec
    from wallet.contribute import load_bounty_spec
    from wallet.errors import InvalidInput

    client, home, base = market["client"], market["home"], market["base"]
    key_path = PractitionerHome.at(home).key_path
    document = json.loads(key_path.read_text())
    proof = document["public"].pop("proof")
    key_path.write_text(json.dumps(document))
    session = Session(home=PractitionerHome.at(home), w3=devnet_w3(market["node"]), chain_id=market["ctx"].chain_id,
                      board_address=market["ctx"].board, token_address=market["ctx"].token, signer=market["signer"])
    before = client.count()
    with pytest.raises(InvalidInput, match="has no proof that its Paillier key is well formed"):
        post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                    reward_per_round=10**18, rounds=1, round_seconds=600)
    files = _snapshot(home)
    code = main(_post(market, "--reward", "1", "--password-file", str(base / "wrong-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    assert code == 1 and capsys.readouterr().err == "error: Wrong password for the Paillier key.\n"
    assert client.count() == before and _snapshot(home) == files
    code = main(_post(market, "--reward", "1", "--password-file", str(base / "key-pw"),
                      "--wallet-password-file", str(base / "wallet-pw")))
    assert code == 0, capsys.readouterr().err
    assert client.count() == before + 1
    assert [str(root) for root in load_key_proof(key_path)] == proof  # the same roots: deterministic
    _bounty, spec = load_bounty_spec(client, before + 1, file_roots=None)
    assert spec.valuation_rules == 4 and modulus_proof_problem(spec.paillier.n, spec.paillier.proof) is None
    assert BountySpec.from_json(spec.to_json()).paillier.proof == spec.paillier.proof


def test_a_bounty_whose_key_proof_does_not_check_is_not_offered_or_trained_for(market):
    """A practitioner posting a spec with a forged key proof (or none, under valuation_rules
    3): the chain takes it, but the owner's wallet shows why the spec is not used and refuses
    to train for it, before anything is trained or sent."""
    from trainer.errors import SpecError
    from trainer.key_proof import ROUNDS
    from wallet.contribute import load_bounty_spec

    client = market["client"]
    session = Session(home=PractitionerHome.at(market["home"]), w3=devnet_w3(market["node"]),
                      chain_id=market["ctx"].chain_id, board_address=market["ctx"].board,
                      token_address=market["ctx"].token, signer=market["signer"])
    posted = load_bounty_spec(client, market["bounty"], file_roots=None)[1].to_json()
    forged = {**posted, "paillier": {**posted["paillier"], "proof": ["1"] * ROUNDS}}
    missing = {**posted, "paillier": {key: v for key, v in posted["paillier"].items() if key != "proof"}}
    for spec, said in ((forged, "root 0 is not an n-th root of its challenge"),
                       (missing, f"valuation_rules {posted['valuation_rules']} needs the proof and the spec has none")):
        spec_hash, spec_uri = session.publish(json.dumps(spec, sort_keys=True).encode())
        session.client.approve(market["ctx"].token, 10**18)
        bounty_id = session.client.create_bounty(
            token=market["ctx"].token, reward_per_round=10**18, rounds=1, round_duration=600, max_contributors=10,
            spec_hash=spec_hash, spec_uri=spec_uri, model_hash=posted["initial_model"]["hash"],
            model_uri=posted["initial_model"]["uri"])
        details = client.show(bounty_id)
        assert not details.spec_ok and details.spec is None
        assert details.spec_problem.startswith(f"The bounty's Paillier key is not proven well formed ({said})")
        with pytest.raises(SpecError, match="paillier.proof"):
            load_bounty_spec(client, bounty_id, file_roots=None)
