"""Privacy modes through `quarry train` on the embedded network (issue 10): DP-SGD by default,
the bounty's maximum ε refused before training, the owner's privacy budget composed across
bounties and a contribution past its ceiling refused with nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from devnet.config import CHAIN_ID
from practitioner.keys import generate_keypair, save_private_key
from practitioner.post import post_bounty, read_spec_file
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.anvil import devnet_w3, faucet_signer, start_devnet
from trainer.privacy import ROW_LEVEL, USER_LEVEL, dp_sgd_event, epsilon_of, user_level_event
from wallet import keystore
from wallet.bounties import BountyClient
from wallet.cli import main
from wallet.privacy_budget import LEDGER_DELTA, DatasetFile, PrivacyBudget
from wallet.store import Store

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
OWNER = DEMO / "wine_owner_a.csv"


@pytest.fixture(autouse=True)
def _fast_scrypt(monkeypatch):
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")


def run(home, *argv):
    return main(["--home", str(home), *argv])


def test_train_modes_max_epsilon_and_budget_from_the_cli(tmp_path, capsys):
    home = tmp_path / "home"
    account = Account.create()
    (tmp_path / "pw").write_text("pw-1\n")
    (tmp_path / "key").write_text(account.key.hex() + "\n")
    assert run(home, "wallet", "import", "--private-key-file", str(tmp_path / "key"),
               "--password-file", str(tmp_path / "pw")) == 0
    with start_devnet(home / "devnet") as devnet:
        w3 = devnet_w3(devnet)
        devnet.faucet(account.address)
        practitioner_home = PractitionerHome.at(home / "other")  # file:// blobs inside the wallet's home
        _, private_key = generate_keypair(512)
        save_private_key(practitioner_home.key_path, private_key, "pw")
        session = Session(home=practitioner_home, w3=w3, chain_id=CHAIN_ID, board_address=devnet.board,
                          token_address=devnet.token, signer=faucet_signer(devnet))

        def post(max_epsilon: float | None = None) -> int:
            raw = read_spec_file(DEMO / "wine_spec.json")
            if max_epsilon is not None:
                raw["privacy"]["max_epsilon"] = max_epsilon
            return post_bounty(session, DEMO / "wine_spec.json", raw_spec=raw,
                               validation_files=[str(DEMO / "wine_validation.csv")],
                               reward_per_round=10**18, rounds=1, round_seconds=3600).bounty_id

        capped, first, second = post(3.0), post(), post()
        pw = ("--password-file", str(tmp_path / "pw"))
        capsys.readouterr()

        # the bounty's maximum ε: the default DP-SGD setting spends 7.5 on 45 rows: refused
        # before training, with what to change; more noise fits
        assert run(home, "train", str(capped), "--data", str(OWNER), "--dry-run") == 1
        err = capsys.readouterr().err
        assert "at most ε = 3 per contribution" in err and "7.50" in err and "[train]" not in err
        assert run(home, "train", str(capped), "--data", str(OWNER), "--privacy", "dataset",
                   "--dp-noise", "1", "--dry-run") == 1
        err = capsys.readouterr().err
        assert "at most ε = 3" in err and "4.73" in err and "[train]" not in err
        assert run(home, "train", str(capped), "--data", str(OWNER), "--dp-noise", "6", "--privacy", "row",
                   "--dry-run", "--json") == 0
        assert json.loads(capsys.readouterr().out)["epsilon"] < 3.0

        # the default mode is DP-SGD; the ledger composes the two bounties' contributions
        assert run(home, "train", str(first), "--data", str(OWNER), *pw, "--json") == 0
        one = json.loads(capsys.readouterr().out)
        assert one["epsilon"] == pytest.approx(7.5015, abs=1e-3)
        assert run(home, "train", str(second), "--data", str(OWNER), "--privacy", "dataset",
                   "--dp-noise", "2", *pw, "--json") == 0
        capsys.readouterr()
        budget = PrivacyBudget(Store(home))
        data = DatasetFile.of(OWNER)
        rows = budget.rows(data.hash)
        assert [r["mechanism"] for r in rows] == [ROW_LEVEL, USER_LEVEL]
        expected = epsilon_of([dp_sgd_event(2.0, 32 / 45, 15), user_level_event(2.0)], LEDGER_DELTA)
        assert budget.spent(data.hash) == pytest.approx(expected)

        # past the ceiling: refused before training, nothing submitted
        third = post()
        assert run(home, "privacy", "ceiling", "9") == 0
        capsys.readouterr()
        assert run(home, "train", str(third), "--data", str(OWNER), *pw) == 1
        err = capsys.readouterr().err
        assert "Privacy budget: wine_owner_a.csv has spent ε = " in err and "ceiling of 9" in err
        assert "Nothing was sent" in err
        client = BountyClient(w3, devnet.board, CHAIN_ID, file_roots=None)
        assert client.submission(third, 0, account.address) is None
        assert len(budget.rows(data.hash)) == 2
        assert run(home, "privacy", "export", "--out", str(tmp_path / "p.csv")) == 0
        assert len((tmp_path / "p.csv").read_text().splitlines()) == 3
