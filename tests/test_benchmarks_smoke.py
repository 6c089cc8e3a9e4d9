"""Each benchmark runs end to end at tiny sizes and reports positive figures (no timing limits)."""

from __future__ import annotations

import json

from benchmarks import aggregation, copy_proof, encoding_accuracy, encryption, opening, training


def _json_out(capsys, main, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_encryption_benchmark(capsys):
    out = _json_out(
        capsys,
        encryption.main,
        ["--params", "300", "--key-bits", "512", "--baseline", "5", "--json"],
    )
    for key in (
        "ours_values_per_s",
        "phe_values_per_s",
        "speedup_vs_phe",
        "bytes_per_param",
        "phe_bytes_per_param",
        "ours_decrypt_s",
        "ours_encrypt_s",
        "send_values_per_s",
        "send_speedup_vs_phe",
        "precompute_s",
        "decrypt_values_per_s_per_core",
    ):
        assert out[key] > 0, key
    assert out["params"] == 300 and out["key_bits"] == 512
    assert out["bytes_per_param"] < out["phe_bytes_per_param"]
    # the specs' encoding: precision_bits 8, 17-bit slots, stochastic rounding (< one step)
    assert out["precision_bits"] == 8 and out["slot_bits"] == 17
    assert out["max_abs_error"] < 1 / 2**8
    assert out["bytes_per_param"] < out["bytes_per_param_old_layout"]
    assert out["slots_per_ciphertext"] > out["slots_per_ciphertext_old_layout"]
    assert out["decrypt_values_per_s_per_core_old_layout"] > 0


def test_encoding_accuracy_benchmark(capsys):
    out = _json_out(
        capsys, encoding_accuracy.main,
        ["--rounds", "2", "--draws", "2", "--datasets", "wine", "--json"],
    )
    assert out["new_precision_bits"] == 8 and out["new_slot_bits"] == 17
    assert out["wine_new_slots"] == 120 and out["wine_old_slots"] == 81
    assert len(out["wine_accuracy_old"]) == len(out["wine_accuracy_new"]) == 2
    assert all(0 < a <= 1 for a in out["wine_accuracy_new"])
    assert out["max_mean_diff_points"] >= 0


def test_aggregation_benchmark(capsys):
    out = _json_out(
        capsys,
        aggregation.main,
        ["--updates", "3", "--params", "300", "--key-bits", "512", "--json"],
    )
    for key in ("aggregate_s", "homomorphic_sum_s", "encrypt_all_s", "parse_and_validate_s"):
        assert out[key] > 0, key
    assert out["updates"] == 3 and out["fresh_encryptions"] == 3


def test_copy_proof_benchmark(capsys):
    out = _json_out(capsys, copy_proof.main, ["--params", "300", "--key-bits", "512", "--json"])
    for key in ("decrypt_s", "open_s", "check_s", "open_vs_decrypt", "check_vs_decrypt"):
        assert out[key] > 0, key
    assert out["ciphertexts"] == 10  # 30 slots of 17 bits in a 512-bit plaintext
    assert out["proof_bytes"] > out["blob_bytes"]  # the blob, plus a plaintext and a nonce per ciphertext


def test_opening_benchmark(capsys):
    """The wallet's replay of an opened round gives the practitioner's values (the benchmark
    refuses to time one that does not), exact and sampled."""
    for players, method in (("4", "exact"), ("14", "gtg")):
        out = _json_out(capsys, opening.main, ["--players", players, "--features", "8", "--classes", "3",
                                               "--rows", "60", "--json"])
        assert out["method"] == method and out["largest_value_difference"] <= 1e-9
        assert out["valuation_s"] > 0 and out["replay_s"] > 0 and 0 < out["counted"] <= int(players)


def test_training_benchmark(capsys):
    out = _json_out(capsys, training.main, ["--epochs", "2", "--datasets", "wine", "--json"])
    assert 0 < out["wine_linear_accuracy"] <= 1
    assert 0 < out["wine_sklearn_accuracy"] <= 1
    assert out["wine_linear_s"] > 0 and out["wine_rows"] > 0


def test_human_readable_output(capsys):
    assert encryption.main(["--params", "50", "--key-bits", "512", "--baseline", "3"]) == 0
    text = capsys.readouterr().out
    assert "speedup_vs_phe" in text and "bytes_per_param" in text
