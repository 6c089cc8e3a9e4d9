"""A bounty by invitation through the two command-line tools on the embedded network: the
practitioner posts with --by-invitation and invites one owner; the owner's `quarry train`
refuses until the invitation is added, a wrong file is refused with one line, and then the
owner contributes."""

# fixtures imported from tests.cli_fixtures are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eth_account import Account

from practitioner.cli import main as practitioner_main
from tests.anvil import free_port
from tests.cli_fixtures import devnet, fast_scrypt, home, run, wallet_files  # noqa: F401 (fixtures)
from tests.practitioner_fixtures import practitioner_home_on_devnet

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "resources" / "demo"


def _practitioner(devnet, home: Path, tmp_path: Path) -> tuple[list[str], list[str]]:
    """A practitioner (Paillier key, a funded account in its vault) with its home inside the
    owner's, so the owner may read its file:// blobs: (its chain options, a post by invitation)."""
    practitioner = home / "practitioner-home"
    signer = practitioner_home_on_devnet(devnet, practitioner, tmp_path)
    chain = ["--home", str(practitioner), "--rpc", devnet.url, "--board", devnet.board, "--token", devnet.token,
             "--wallet-password-file", str(tmp_path / "wallet-pw"), "--account", signer.address]
    post = ["post", str(DEMO / "wine_spec.json"), "--validation", str(DEMO / "wine_validation.csv"),
            "--reward", "1", "--rounds", "1", "--round-seconds", "600", "--by-invitation",
            "--password-file", str(tmp_path / "key-pw")]
    return chain, post


def test_post_by_invitation_invite_and_contribute_from_the_command_line(devnet, home, wallet_files,
                                                                         tmp_path, capsys):
    me = wallet_files["account"]
    assert run(home, "wallet", "balance") == 0  # the faucet pays the owner's gas
    chain, post = _practitioner(devnet, home, tmp_path)
    capsys.readouterr()
    assert practitioner_main([*post, *chain]) == 0
    bounty_id = int(capsys.readouterr().out)

    # an address typed without its checksum is refused, nothing written
    out = tmp_path / "invitations"
    assert practitioner_main(["invite", str(bounty_id), me.address.lower(), "--out", str(out), *chain]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "checksum" in err and not out.exists()
    assert practitioner_main(["invite", str(bounty_id), me.address, "--out", str(out), *chain]) == 0
    (written,) = capsys.readouterr().out.splitlines()
    assert Path(written) == out / f"invitation-{bounty_id}-{me.address}.json"
    assert practitioner_main(["status", str(bounty_id), *chain]) == 0
    assert ", by invitation (1 invited)" in capsys.readouterr().out

    assert run(home, "bounties", "show", str(bounty_id)) == 0
    shown = capsys.readouterr().out
    assert "BY INVITATION: the practitioner values only the owners it invites" in shown
    # the demo's wine validation set holds 44 rows: the owner is told it is small, before training
    assert "  SMALL VALIDATION SET: 44 rows, small: on a set under 100 rows one validation example" in shown
    # posted with the current valuation rules: the owner is told its reports are held to them
    assert "  reports: checked: your wallet holds every round report to the protocol's rules" in shown
    train = ["train", str(bounty_id), "--data", str(DEMO / "wine_owner_a.csv"), "--password-file", wallet_files["pw"]]
    assert run(home, *train) == 1
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: Bounty {bounty_id} is by invitation") and "quarry invitation add FILE" in error

    # someone else's invitation, and a file that is not one
    other = tmp_path / "other"
    assert practitioner_main(["invite", str(bounty_id), Account.create().address, "--out", str(other), *chain]) == 0
    capsys.readouterr()
    (theirs,) = other.iterdir()
    assert run(home, "invitation", "add", str(theirs)) == 1
    assert f"not for {me.address}" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert run(home, "invitation", "add", str(tmp_path / "junk.json")) == 1
    assert capsys.readouterr().err == "error: This is not an invitation: the file is not JSON.\n"

    assert run(home, "invitation", "add", written, "--json") == 0
    kept = json.loads(capsys.readouterr().out)
    assert (kept["bountyId"], kept["contributor"]) == (bounty_id, me.address)
    assert run(home, *train) == 0, capsys.readouterr().err


def test_codes_handed_out_redeemed_at_the_inbox_and_the_owner_contributes(devnet, home, wallet_files,
                                                                         tmp_path, capsys):
    """`invite --codes` when the practitioner does not know the owners' addresses; `serve` (a real
    process on 127.0.0.1) redeems them; a code invites one address."""
    me = wallet_files["account"]
    assert run(home, "wallet", "balance") == 0
    chain, post = _practitioner(devnet, home, tmp_path)
    port = free_port()
    inbox = subprocess.Popen([sys.executable, "-m", "practitioner", "serve", "--port", str(port), *chain],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        banner = inbox.stdout.readline()
        assert "redeeming invitation codes" in banner, banner or inbox.stderr.read()
        assert "giving owners their own blobs back once a round is reported" in banner
        capsys.readouterr()
        assert practitioner_main([*post, "--inbox-url", f"http://127.0.0.1:{port}", *chain]) == 0
        bounty_id = int(capsys.readouterr().out)
        assert practitioner_main(["invite", str(bounty_id), "--codes", "2", "--json", *chain]) == 0
        codes = json.loads(capsys.readouterr().out)["codes"]
        assert len(codes) == 2
        assert practitioner_main(["invite", str(bounty_id), me.address, "--codes", "1", *chain]) == 1
        assert "not both" in capsys.readouterr().err

        assert run(home, "bounties", "show", str(bounty_id)) == 0
        assert f"'quarry invitation redeem {bounty_id} CODE'" in capsys.readouterr().out
        # a mistyped code is refused before anything is sent; an unknown one by the inbox
        assert run(home, "invitation", "redeem", str(bounty_id), codes[0][:-1] + "0") == 1
        assert "This is not an invitation code" in capsys.readouterr().err
        assert run(home, "invitation", "redeem", str(bounty_id), "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA") == 1
        assert "does not know this code" in capsys.readouterr().err
        assert run(home, "invitation", "redeem", str(bounty_id), codes[0].lower(), "--json") == 0
        kept = json.loads(capsys.readouterr().out)
        assert (kept["bountyId"], kept["contributor"]) == (bounty_id, me.address)
        assert practitioner_main(["status", str(bounty_id), *chain]) == 0
        assert "by invitation (1 invited, 1 of 2 codes redeemed)" in capsys.readouterr().out

        # the update goes to the inbox, which takes it from an invited address
        train = ["train", str(bounty_id), "--data", str(DEMO / "wine_owner_a.csv"),
                 "--password-file", wallet_files["pw"], "--json"]
        assert run(home, *train) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["txHash"].startswith("0x")
    finally:
        inbox.terminate()
        inbox.communicate(timeout=30)
