"""benchmarks.privacy --quick (issue 10): the demo markets at each privacy setting, with the
real trainer and the real valuation; the default DP-SGD setting keeps the round model and
pays honest owners, whole-dataset noise does not."""

from __future__ import annotations

import json

from benchmarks import privacy


def test_quick_privacy_benchmark_holds_the_defaults_targets(capsys) -> None:
    assert privacy.main(["--quick", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    settings = {s["name"]: s for s in results["settings"]}
    for s in results["settings"]:
        assert {"name", "default", "epsilon", "accuracy_drop_points", "honest_paid_fraction",
                "free_rider_paid_fraction"} <= set(s)
        assert set(s["per_dataset"]) == {"breast_cancer", "wine", "digits"}
    [default] = [s for s in results["settings"] if s["default"]]
    assert default["mechanism"] == "dp_sgd" and 1.0 < default["epsilon"] < 10.0
    assert settings["no noise"]["epsilon"] is None
    # the targets of issue 10 at the default: within 3 points, honest owners paid >= 80 %
    assert default["accuracy_drop_points"] <= 3.0
    assert default["honest_paid_fraction"] >= 0.8
    whole = settings["whole dataset: sigma 1"]
    assert whole["epsilon"] > 4.7 and whole["honest_paid_fraction"] < default["honest_paid_fraction"]
    assert whole["accuracy_drop_points"] > default["accuracy_drop_points"] + 5
    # the same file trained again in a second wallet: without noise the same update, credited
    # once; with the default DP-SGD fresh noise, a different update, and the pair earns more
    # (docs/PROTOCOL.md, "What does not"; full mode median 1.61)
    assert settings["no noise"]["second_wallet_pair_max_ratio"] == 1.0
    assert default["second_wallet_pair_median_ratio"] > 1.2
    assert results["seconds"] < 120
