"""The demo practitioner: keeps a few real bounties running on the embedded network.

The devnet calls `attach(ctx)` in a daemon thread once it serves (entry point
"quarry.devnet" -> practitioner.demo:attach). The demo:
- creates its Paillier key (2048 bits) under <devnet home>/demo-practitioner/ on first use;
  as everything on this local test chain, its password sits next to it (mode 0600),
- makes sure one bounty per shipped dataset (breast cancer, wine, digits; resources/demo)
  is open, posting a fresh one when the last has completed; the spec's validation part
  (`*_validation.csv`) stays with the demo and is never published,
- stores its blobs as local files (file:// URIs), and reads owners' file:// blobs,
- until ctx.stop is set: evaluates and finalises every round as it closes (after a restart
  too: the state is on chain and in its home).
The owners' parts (`*_owner_a.csv` ...) ship so that a new user has files to train on.

Rounds last 10 minutes. For tests and screenshots only, QUARRY_DEMO_ROUND_SECONDS (an
integer >= 5) sets the length of the rounds of bounties the demo posts from then on.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from phe import paillier
from web3 import Web3

from common.atomic import atomic_write_text
from practitioner.keys import generate_keypair, load_private_key, save_private_key
from practitioner.post import post_bounty, read_spec_file
from practitioner.runner import process_due_rounds, seconds_to_next_deadline
from practitioner.session import Session
from practitioner.state import PractitionerHome, read_json
from trainer.errors import TrainerError
from wallet.errors import QuarryError

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "resources" / "demo"
DATASETS = ("breast_cancer", "wine", "digits")
KEY_BITS = 2048
REWARD_PER_ROUND = 100 * 10**18  # 100 QDT
ROUNDS = 6
ROUND_SECONDS = 600
ROUND_SECONDS_ENV = "QUARRY_DEMO_ROUND_SECONDS"
MIN_ROUND_SECONDS = 5
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class DemoSettings:
    datasets: tuple[str, ...] = DATASETS
    key_bits: int = KEY_BITS
    reward_per_round: int = REWARD_PER_ROUND
    rounds: int = ROUNDS
    round_seconds: int = ROUND_SECONDS
    poll_seconds: float = POLL_SECONDS
    min_round_seconds: int = 60


def settings_from_env() -> DemoSettings:
    """The default settings, with QUARRY_DEMO_ROUND_SECONDS applied when set and valid."""
    raw = os.environ.get(ROUND_SECONDS_ENV, "").strip()
    if not raw:
        return DemoSettings()
    if not raw.isdigit() or int(raw) < MIN_ROUND_SECONDS:
        log.warning("demo practitioner: ignoring %s=%r (an integer >= %d)",
                    ROUND_SECONDS_ENV, raw, MIN_ROUND_SECONDS)
        return DemoSettings()
    seconds = int(raw)
    return DemoSettings(round_seconds=seconds, min_round_seconds=min(seconds, 60))


def demo_file(name: str) -> Path:
    return DEMO_DIR / name


def _key(home: PractitionerHome, bits: int) -> paillier.PaillierPrivateKey:
    password_path = home.root / "demo-key-password"
    if home.key_path.exists() and password_path.exists():
        return load_private_key(home.key_path, password_path.read_text().strip())
    password = secrets.token_urlsafe(24)
    _, private_key = generate_keypair(bits)
    atomic_write_text(password_path, password + "\n")
    save_private_key(home.key_path, private_key, password, overwrite=True)
    log.info("demo practitioner: new %d-bit Paillier key", bits)
    return private_key


def demo_session(ctx, settings: DemoSettings | None = None) -> Session:  # ctx: DevnetContext
    home = PractitionerHome.at(Path(ctx.home) / "demo-practitioner")
    w3 = Web3(Web3.HTTPProvider(ctx.rpc_url, request_kwargs={"timeout": 60}))
    return Session(
        home=home, w3=w3, chain_id=ctx.chain_id, board_address=ctx.board,
        token_address=ctx.token, signer=Account.from_key(ctx.practitioner_key),
    )


def open_titles(session: Session) -> set[str]:
    """Titles of our bounties that are still open on chain."""
    titles = set()
    client = session.client
    for bounty_id in session.home.known_bounties(session.chain_id, session.board_address):
        if client.bounty(bounty_id).status == "open":
            titles.add(read_json(session.bounty_dir(bounty_id) / "bounty.json").get("title", ""))
    return titles


def ensure_bounties(session: Session, settings: DemoSettings) -> list[int]:
    """Post a bounty for every dataset that has no open one; returns the new ids."""
    posted = []
    running = open_titles(session)
    for name in settings.datasets:
        raw = read_spec_file(demo_file(f"{name}_spec.json"))
        if raw.get("title") in running:
            continue
        result = post_bounty(
            session, demo_file(f"{name}_spec.json"), raw_spec=raw,
            validation_files=[str(demo_file(f"{name}_validation.csv"))],
            reward_per_round=settings.reward_per_round, rounds=settings.rounds,
            round_seconds=settings.round_seconds, min_round_seconds=settings.min_round_seconds,
            # the demo's validation files ship with the app, and each bounty it posts again
            # reuses them: public rows, so nothing is kept back (docs/PROTOCOL.md, "Validation
            # rows used twice", says what that lets a stranger on a shared network do)
            allow_revealed_validation=True,
        )
        log.info("demo practitioner: posted bounty %d (%s)", result.bounty_id, result.spec.title)
        posted.append(result.bounty_id)
    return posted


def attach(ctx, settings: DemoSettings | None = None) -> None:  # ctx: devnet.node.DevnetContext
    """The devnet plugin: runs until ctx.stop is set."""
    settings = settings or settings_from_env()
    session = demo_session(ctx, settings)
    private_key = _key(session.home, settings.key_bits)
    while not ctx.stop.is_set():
        wait = settings.poll_seconds
        try:
            process_due_rounds(session, private_key)
            ensure_bounties(session, settings)
            # sleep until the next round closes: no polling keeps the idle devnet idle
            wait = max(settings.poll_seconds, seconds_to_next_deadline(session) + 1.0)
        except (QuarryError, TrainerError) as exc:
            log.warning("demo practitioner: %s", exc)
        except Exception:  # the node went away for a moment: try again on the next tick
            log.exception("demo practitioner: pass failed")
        ctx.stop.wait(wait)
