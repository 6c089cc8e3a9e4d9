"""The demo practitioner on the embedded network (served over HTTP in-process): it posts a
bounty from the shipped data, a data owner contributes, the round is finalised and paid,
and a restart neither reposts nor loses the state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devnet.launcher import running_url
from practitioner.demo import DEMO_DIR, DemoSettings, attach, demo_session, ensure_bounties
from practitioner.report import parse_report
from tests.anvil import devnet_w3, faucet_signer, free_port, start_devnet
from wallet.blob_store import fetch_blob
from wallet.bounties import BountyClient
from wallet.cli import main as cli_main
from wallet.contribute import contribute

REPO = Path(__file__).resolve().parents[1]
CLI_ROUND_SECONDS = 30  # the new user trains inside one round even on a loaded CI machine

SETTINGS = DemoSettings(
    datasets=("wine",), key_bits=1024, rounds=2, round_seconds=12, poll_seconds=0.3,
    min_round_seconds=5,
)


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _stack_of(thread: threading.Thread) -> str:
    """Where a thread that did not stop is (for the failure message)."""
    import sys
    import traceback

    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)"


def wine_reward(bounty: dict) -> int:
    return int(bounty["reward_per_round"])


def test_shipped_demo_files_are_complete():
    for name in ("breast_cancer", "wine", "digits"):
        for part in ("spec.json", "validation.csv", "owner_a.csv", "owner_b.csv", "owner_c.csv"):
            assert (DEMO_DIR / f"{name}_{part}").is_file()
        header = (DEMO_DIR / f"{name}_owner_a.csv").read_text().splitlines()[0]
        assert header.endswith(",label")


def test_demo_posts_evaluates_and_pays(tmp_path: Path):
    with start_devnet(tmp_path / "devnet") as node:
        ctx = node.context()
        thread = threading.Thread(target=attach, args=(ctx, SETTINGS), daemon=True)
        thread.start()
        w3 = devnet_w3(node)
        client = BountyClient(w3, ctx.board, ctx.chain_id, file_roots=None)
        _wait(lambda: client.count() >= 1, 60, "the demo bounty")
        bounty = client.bounty(1)
        assert bounty.owner == demo_session(ctx).signer.address

        owner = faucet_signer(node)
        result = contribute(client, owner, 1, [DEMO_DIR / "wine_owner_a.csv"],
                            file_roots=[tmp_path], blob_dir=tmp_path / "owner-blobs")
        assert result.round == 0 and result.uri.startswith("file://")

        round_0 = _wait(lambda: (r := client.rounds(client.bounty(1))[0])["state"] == "finalized" and r,
                        60, "round 0 to be finalised")
        report = parse_report(fetch_blob(round_0["report_uri"], round_0["report_hash"], file_roots=None))
        (line,) = report["contributors"]
        assert line["address"] == owner.address and line["amount"] > 0
        assert client.claimable(ctx.token, owner.address) == line["amount"]
        assert report["metricAfter"] < report["metricBefore"]  # validation log-loss
        assert report["accuracyAfter"] > report["accuracyBefore"]

        ctx.stop.set()
        thread.join(timeout=30)  # a pass under way finishes first (slow on a loaded machine)
        assert not thread.is_alive(), _stack_of(thread)

        # a restart: the open bounty is found again, nothing is reposted
        session = demo_session(ctx)
        assert ensure_bounties(session, SETTINGS) == []
        assert client.count() == 1
        # the validation part never left the demo's home
        blobs = session.home.blob_dir
        validation_first_row = (DEMO_DIR / "wine_validation.csv").read_text().splitlines()[1]
        assert all(validation_first_row.encode() not in p.read_bytes() for p in blobs.iterdir())


def test_a_new_user_meets_the_demo_market_on_the_command_line(tmp_path: Path, capsys, seeded_dp_sgd):
    """`quarry devnet` (a process, with its demo practitioner, short rounds), then as a new
    user: create a wallet, list the bounties, train on a shipped file, wait for the round to
    close, see the reward in `quarry rewards` as the report assigns it, and claim it."""
    home = tmp_path / "home"
    (tmp_path / "pw").write_text("new user password\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), QUARRY_HOME=str(home),
               QUARRY_DEMO_ROUND_SECONDS=str(CLI_ROUND_SECONDS))
    devnet = subprocess.Popen(
        [sys.executable, "-m", "wallet.cli", "--home", str(home), "devnet", "--port", str(free_port())],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        _wait(lambda: running_url(home) or devnet.poll() is not None, 60, "the devnet")
        assert devnet.poll() is None, devnet.stdout.read().decode(errors="replace")[-2000:]
        pw = ["--password-file", str(tmp_path / "pw")]

        def quarry_json(*argv):
            capsys.readouterr()
            assert cli_main(["--home", str(home), *argv, "--json"]) == 0, capsys.readouterr().err
            return json.loads(capsys.readouterr().out)

        assert cli_main(["--home", str(home), "wallet", "create", *pw, "--json"]) == 0
        me = quarry_json("wallet", "list")[0]["address"]
        listed = _wait(lambda: (b := quarry_json("bounties", "list")) and len(b) >= 3 and b, 90,
                       "the three demo bounties")
        titles = {}
        for bounty in listed:
            titles[quarry_json("bounties", "show", str(bounty["id"]))["spec"]["title"]] = bounty
        wine = titles["Wine cultivar"]
        assert wine["status"] == "open" and wine["round_duration"] == CLI_ROUND_SECONDS

        trained = quarry_json("train", str(wine["id"]), "--data", str(DEMO_DIR / "wine_owner_a.csv"), *pw)
        assert trained["txHash"].startswith("0x") and trained["uri"].startswith("file://")

        def my_row():
            # the round's state is read live but its RewardAssigned event comes from the
            # history scan, which can lag a block behind: wait for both
            rows = quarry_json("rewards")["submissions"]
            return next((r for r in rows if r["status"] != "pending" and r["claim"]), None)

        row = _wait(my_row, 3 * CLI_ROUND_SECONDS + 30, "the demo practitioner to finalise the round")
        assert (row["bounty_id"], row["round"], row["status"]) == (wine["id"], trained["round"], "finalised")
        shown = quarry_json("bounties", "show", str(wine["id"]))["rounds"][trained["round"]]
        report = parse_report(fetch_blob(shown["report_uri"], shown["report_hash"], file_roots=None))
        (line,) = [c for c in report["contributors"] if c["address"] == me]
        assert int(row["amount"]) == int(line["amount"]) > 0 and row["claim"] == "claimable", (row, line)
        assert line["share"] == pytest.approx(int(line["amount"]) / wine_reward(wine))

        capsys.readouterr()
        assert cli_main(["--home", str(home), "claim", *pw]) == 0
        assert "Claimed" in capsys.readouterr().out
        claimed = quarry_json("rewards")
        assert claimed["claimed"][wine["token"]] == str(int(line["amount"]))
        assert [r["claim"] for r in claimed["submissions"]] == ["claimed"]
    finally:
        devnet.send_signal(signal.SIGTERM)
        try:
            devnet.wait(timeout=30)
        except subprocess.TimeoutExpired:
            devnet.kill()
            devnet.wait(timeout=10)
        devnet.stdout.close()
