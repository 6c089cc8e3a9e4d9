"""The privacy budget across contributions (issue 10): composed by the accountant, refused
past the owner's ceiling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trainer.dp_sgd import DpSgdConfig
from trainer.privacy import (
    NO_NOISE,
    ROW_LEVEL,
    USER_LEVEL,
    dp_sgd_event,
    epsilon_of,
    user_level_event,
)
from wallet.privacy_budget import LEDGER_DELTA, DatasetFile, PrivacyBudget, PrivacyBudgetExceeded
from wallet.store import Store

ACCOUNT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def _file(tmp_path: Path, name: str, content: bytes) -> DatasetFile:
    path = tmp_path / name
    path.write_bytes(content)
    return DatasetFile.of(path)


def test_ledger_composes_across_bounties_and_refuses_past_the_ceiling(tmp_path: Path) -> None:
    budget = PrivacyBudget(Store(tmp_path / "home"))
    data = _file(tmp_path, "rows.csv", b"a,b\n1,2\n")
    renamed = _file(tmp_path, "copy.csv", b"a,b\n1,2\n")
    assert renamed.hash == data.hash  # the same bytes are the same data
    dp = DpSgdConfig(2.0, 4.0, 0.25, 5).to_json()
    for bounty in (1, 2):  # two bounties, then a user-level round from another account
        budget.record([data], ACCOUNT, mechanism=ROW_LEVEL, params=dp, epsilon=3.0, delta=1e-5,
                      bounty_id=bounty, round=0, blob_hash=f"0x{bounty:064x}")
    budget.record([renamed], OTHER, mechanism=USER_LEVEL, params={"noise_multiplier": 2.0},
                  epsilon=2.0, delta=1e-6, bounty_id=3, round=1)
    expected = epsilon_of([dp_sgd_event(2.0, 0.25, 20), dp_sgd_event(2.0, 0.25, 20),
                           user_level_event(2.0)], LEDGER_DELTA)
    spent = budget.spent(data.hash)
    assert spent == pytest.approx(expected)
    single = epsilon_of(dp_sgd_event(2.0, 0.25, 20), LEDGER_DELTA)
    assert single < spent < 2 * single + epsilon_of(user_level_event(2.0), LEDGER_DELTA)  # not a sum
    [entry] = budget.files()
    assert entry["contributions"] == 3 and entry["accounts"] == sorted([ACCOUNT, OTHER])

    other_file = _file(tmp_path, "other.csv", b"a,b\n3,4\n")
    assert budget.spent(other_file.hash) == 0.0
    budget.set_ceiling(spent + 0.5)
    with pytest.raises(PrivacyBudgetExceeded, match=r"rows.csv.*ceiling of .*Nothing was sent"):
        budget.check([data], ROW_LEVEL, dp)
    with pytest.raises(PrivacyBudgetExceeded, match="no privacy bound"):
        budget.check([other_file], NO_NOISE, {})
    totals = budget.check([other_file], ROW_LEVEL, dp)  # a fresh file still has room
    assert totals[other_file.hash] == pytest.approx(single)
    budget.set_ceiling(None)
    assert math.isinf(budget.check([data], NO_NOISE, {})[data.hash])
    with pytest.raises(PrivacyBudgetExceeded.__mro__[1]):
        budget.set_ceiling(-1)

    budget.forget(f"0x{2:064x}")
    assert len(budget.rows(data.hash)) == 2
    assert budget.contribution_epsilon(ACCOUNT, 1, 0) == ("each row (DP-SGD)", 3.0)


def test_cli_sets_the_ceiling_shows_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wallet.cli import main

    home = tmp_path / "home"
    assert main(["--home", str(home), "privacy", "ceiling", "6"]) == 0
    budget = PrivacyBudget(Store(home))
    assert budget.ceiling() == 6.0
    data = _file(tmp_path, "mine.csv", b"x\n1\n")
    dp = DpSgdConfig(2.0, 4.0, 0.25, 5).to_json()
    for bounty in (4, 5):
        budget.record([data], ACCOUNT, mechanism=ROW_LEVEL, params=dp, epsilon=3.12, delta=1e-5,
                      bounty_id=bounty, round=0)
    capsys.readouterr()
    assert main(["--home", str(home), "privacy", "show"]) == 0
    shown = capsys.readouterr().out
    assert "ε = 6" in shown and "mine.csv" in shown and "2 contribution(s)" in shown
    out = tmp_path / "privacy.csv"
    assert main(["--home", str(home), "privacy", "export", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and "each row (DP-SGD)" in lines[1]
    assert float(lines[2].split(",")[-2]) == pytest.approx(budget.spent(data.hash), abs=1e-4)
    assert main(["--home", str(home), "privacy", "ceiling", "--none"]) == 0
    assert PrivacyBudget(Store(home)).ceiling() is None
