"""The demo practitioner on the embedded network (served over HTTP in-process): it posts a
bounty from the shipped data, a data owner contributes, the round is finalised and paid,
and a restart neither reposts nor loses the state."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from practitioner.demo import DEMO_DIR, DemoSettings, attach, demo_session, ensure_bounties
from practitioner.report import parse_report
from tests.anvil import devnet_w3, faucet_signer, start_devnet
from wallet.blobs import fetch_blob
from wallet.bounties import BountyClient
from wallet.contribute import contribute

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
        client = BountyClient(w3, ctx.board, ctx.chain_id)
        _wait(lambda: client.count() >= 1, 60, "the demo bounty")
        bounty = client.bounty(1)
        assert bounty.owner == demo_session(ctx).signer.address

        owner = faucet_signer(node)
        result = contribute(client, owner, 1, [DEMO_DIR / "wine_owner_a.csv"],
                            blob_dir=tmp_path / "owner-blobs")
        assert result.round == 0 and result.uri.startswith("file://")

        round_0 = _wait(lambda: (r := client.rounds(client.bounty(1))[0])["state"] == "finalized" and r,
                        60, "round 0 to be finalised")
        report = parse_report(fetch_blob(round_0["report_uri"], round_0["report_hash"]))
        (line,) = report["contributors"]
        assert line["address"] == owner.address and line["amount"] > 0
        assert client.claimable(ctx.token, owner.address) == line["amount"]
        assert report["metricAfter"] > report["metricBefore"]

        ctx.stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()

        # a restart: the open bounty is found again, nothing is reposted
        session = demo_session(ctx)
        assert ensure_bounties(session, SETTINGS) == []
        assert client.count() == 1
        # the validation part never left the demo's home
        blobs = session.home.blob_dir
        validation_first_row = (DEMO_DIR / "wine_validation.csv").read_text().splitlines()[1]
        assert all(validation_first_row.encode() not in p.read_bytes() for p in blobs.iterdir())
