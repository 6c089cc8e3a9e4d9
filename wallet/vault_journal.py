"""The password-change journal: replace several encrypted files as one atomic step.

A password change rewrites every encrypted file of a wallet. Doing it file by file would
leave, after a crash, some files under the old password and some under the new one. So:

1. every new file is written next to its original as `<name>.pwnew` (STAGED_SUFFIX);
2. a commit marker `password-change.json` (COMMIT_MARKER) listing the targets is written;
3. each staged file is renamed over its original, then the marker is removed.

`recover(home)` runs whenever a vault opens: with a marker it finishes the renames (the
change was committed); without one it deletes leftover staged files (it was not). After a
crash at any point, either the old or the new password opens everything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from common.atomic import _fsync_dir, atomic_write_bytes, atomic_write_text
from wallet.errors import QuarryError

log = logging.getLogger(__name__)

STAGED_SUFFIX = ".pwnew"
COMMIT_MARKER = "password-change.json"


def stage_and_commit(home: Path, contents: dict[Path, bytes]) -> None:
    """Write each file's new bytes beside it, then the commit marker (steps 1 and 2).

    Failing before the marker is written removes what was staged: nothing changed.
    """
    staged: list[Path] = []
    try:
        for target, data in contents.items():
            staged_path = target.with_name(target.name + STAGED_SUFFIX)
            atomic_write_bytes(staged_path, data)
            staged.append(staged_path)
        marker = {"files": [str(p.relative_to(home)) for p in contents]}
        atomic_write_text(home / COMMIT_MARKER, json.dumps(marker) + "\n")
    except BaseException:
        for path in staged:
            with contextlib.suppress(OSError):
                path.unlink()
        raise


def recover(home: Path, directories: tuple[Path, ...]) -> None:
    """Finish a committed change (marker present) or discard an uncommitted one.

    `directories` are where staged files may be (the home and its keystore folder).
    """
    marker_path = home / COMMIT_MARKER
    if marker_path.exists():
        try:
            names = json.loads(marker_path.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise QuarryError(f"{marker_path} is corrupt; the wallet cannot be opened safely.") from exc
        for name in names:
            target = (home / name).resolve()
            if home.resolve() not in target.parents:
                raise QuarryError(f"{marker_path} names a file outside the wallet.")
            staged_path = target.with_name(target.name + STAGED_SUFFIX)
            if staged_path.exists():
                os.replace(staged_path, target)
        for directory in set(directories):
            _fsync_dir(directory)
        marker_path.unlink()
        _fsync_dir(home)
        log.info("Finished an interrupted password change in %s", home)
    for directory in directories:
        if directory.is_dir():
            for leftover in directory.glob("*" + STAGED_SUFFIX):
                leftover.unlink()
