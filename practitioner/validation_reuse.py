"""Validation rows that another bounty of this home reveals, or has revealed.

At a bounty's end its validation set is revealed (`practitioner.reveal`) so that every owner can
check its pay. Once revealed, those rows are anyone's: an address that holds no data of its own
can train on them, as a wallet does, and be paid for the practitioner's own rows as if they were
fresh ones (`python -m benchmarks.validation_reuse`: about a quarter of a round on average, more
than the markets' biggest honest owner; docs/PROTOCOL.md, "Validation rows used twice"), and
every honest owner's share shrinks by as much. So a practitioner who posts a new bounty with
rows an earlier bounty revealed, or reveals a bounty while another that shares its rows still
runs, hands part of its new bounty's pay to whoever reads the reveal.

Rows are compared as the owners would see them: each validation row back in its file's units
(`x * std + mean` of its bounty's spec), rounded to float32 (so a row read twice from one
file matches across the standardisations of two bounties) with its class's name. The chain
cannot see rows: this is the practitioner's own tooling, over the bounties posted from its home.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practitioner.session import Session
from practitioner.state import PractitionerHome, load_validation, read_json, read_local_blob
from trainer.errors import TrainerError
from trainer.reveal import row_keys
from trainer.spec import BountySpec
from wallet.errors import InvalidInput, QuarryError

log = logging.getLogger(__name__)

# bounty.json's mark of a bounty posted with rows known to be public (`post
# --allow-revealed-validation`, the embedded network's demo): its rows are no secret to keep
PUBLIC_ROWS_KEY = "publicValidationRows"


@dataclass(frozen=True)
class SharedRows:
    """Another bounty of this home whose validation set holds `rows` of the rows asked about."""

    directory: Path
    bounty_id: int | None  # from the directory's name
    title: str
    rows: int
    revealed: bool  # its validation set is on chain already (this home revealed it)
    verifiable: bool  # it will be revealed at its end
    public_rows: bool  # posted with rows known to be public

    def name(self, here: str = "") -> str:
        """'bounty N "title"', with its chain and board unless they are `here` ("<chainId>-<board>")."""
        where = self.directory.name.rsplit("-", 1)[0]
        label = f"bounty {self.bounty_id}" if self.bounty_id is not None else self.directory.name
        if self.title:
            label += f" \"{self.title}\""
        return label if where == here.lower() else f"{label} (chain and board {where})"


def listed(shared: list[SharedRows], here: str = "", most: int = 3) -> str:
    """The first `most` bounties with their shared row counts, and how many more."""
    names = [f"{s.name(here)}: {s.rows} rows" for s in shared[:most]]
    more = len(shared) - most
    return "; ".join(names) + (f"; and {more} more bounties" if more > 0 else "")


def _posted(home: PractitionerHome) -> Iterator[tuple[Path, dict, BountySpec, np.ndarray, np.ndarray]]:
    base = home.root / "bounties"
    if not base.is_dir():
        return
    for directory in sorted(base.iterdir()):
        try:
            record = read_json(directory / "bounty.json")
            data = read_local_blob(home.blob_dir, str(record["specHash"]))
            if data is None:
                continue
            spec = BountySpec.from_json_bytes(data)
            x, y = load_validation(directory)
        except (OSError, KeyError, ValueError, QuarryError, TrainerError) as exc:
            log.debug("validation reuse: %s skipped: %s", directory, exc)
            continue
        yield directory, record, spec, x, y


def shared_rows(home: PractitionerHome, spec: BountySpec, x: np.ndarray, y: np.ndarray,
                *, exclude: Path | None = None) -> list[SharedRows]:
    """The bounties of `home` (any chain) whose validation sets share rows with (spec, x, y),
    `exclude` (a bounty directory: the one asked about) left out."""
    keys = row_keys(spec, x, y)
    found = []
    for directory, record, other, ox, oy in _posted(home):
        if exclude is not None and directory.resolve() == exclude.resolve():
            continue
        if other.n_features != spec.n_features:
            continue
        count = len(keys & row_keys(other, ox, oy))
        if count:
            suffix = directory.name.rsplit("-", 1)[-1]
            found.append(SharedRows(
                directory, int(suffix) if suffix.isdigit() else None, str(record.get("title", "")), count,
                revealed=bool(record.get("reveal")), verifiable=other.verifiable,
                public_rows=bool(record.get(PUBLIC_ROWS_KEY)),
            ))
    return found


def revealed_rows_refusal(shared: list[SharedRows], total: int, here: str = "") -> str | None:
    """Why `post` refuses a validation set of `total` rows, or None."""
    revealed = [s for s in shared if s.revealed]
    if not revealed:
        return None
    worst = max(revealed, key=lambda s: s.rows)
    return (f"{worst.rows} of the {total} validation rows were revealed with {worst.name(here)}: anyone "
            "can send them back as an update and be paid for your own rows (an owner holding no "
            "data but the validation rows takes about a quarter of a round). Post with validation "
            "rows no bounty has revealed, or, if these rows are public anyway, with "
            "--allow-revealed-validation.")


def unrevealed_rows_warning(shared: list[SharedRows], total: int, here: str = "") -> str | None:
    """What `post` says when a validation set shares rows with bounties not revealed yet."""
    waiting = [s for s in shared if not s.revealed and s.verifiable]
    if not waiting:
        return None
    return (f"Some of the {total} validation rows are in other bounties' validation sets ({listed(waiting, here)}); "
            "their reveal will wait until this bounty has ended, so that nobody can train on them "
            "while it runs.")


class RevealDeferred(InvalidInput):
    """A bounty's reveal waits: another bounty that shares its rows still runs."""


def live_sharers(session: Session, bounty_id: int, spec: BountySpec, x: np.ndarray, y: np.ndarray) -> list[SharedRows]:
    """The bounties of this home on the session's chain and board that share rows with
    `bounty_id`'s validation set and have not ended (posted with rows known to be public left
    out). Bounties on other chains are not asked about: this session cannot read them."""
    prefix = here_of(session) + "-"
    live = []
    for shared in shared_rows(session.home, spec, x, y, exclude=session.bounty_dir(bounty_id)):
        if shared.public_rows or shared.bounty_id is None or not shared.directory.name.startswith(prefix):
            continue
        if not session.client.pot(shared.bounty_id).ended:
            live.append(shared)
    return live


def here_of(session: Session) -> str:
    """The session's chain and board as bounty directories name them."""
    return f"{session.chain_id}-{session.board_address.lower()}"


def deferred_reveal(session: Session, bounty_id: int, live: list[SharedRows]) -> RevealDeferred:
    return RevealDeferred(
        f"Bounty {bounty_id}'s validation set shares rows with bounties that have not ended ("
        f"{listed(live, here_of(session))}): revealed now, those rows would let anyone train on them "
        "and be paid there. Reveal it once they have ended (`quarry-practitioner run` waits and "
        "reveals it by itself).")
