"""wallet.kept_updates: the owner's kept plaintext update is keyed by chain, board, bounty,
round, account and blob hash, written atomically with the digest of its array beside it, and
read without pickle; a copy damaged since it was written reads as not kept, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.encoding import EncodingParams
from wallet.kept_updates import (
    kept_digest,
    kept_path,
    load_kept_update,
    read_kept_update,
    round_trip,
    save_kept_update,
    sent_before,
)

BOARD, ACCOUNT = "0x" + "Ab" * 20, "0x" + "cD" * 20
HASH = "0x" + "12" * 32
ENCODING = EncodingParams(precision_bits=16, clip=1.0, max_contributors=10, key_bits=512)


def test_round_trip_is_what_decoding_gives_clamped_and_on_the_grid():
    vector = np.array([0.123456789, -3.0, 2.5, 0.0])
    kept = round_trip(vector, ENCODING)
    assert kept[1] == -1.0 and kept[2] == 1.0 and kept[3] == 0.0  # clamped to [-clip, clip]
    assert abs(kept[0] - vector[0]) < 1 / 2**16  # stochastic rounding: one step at most
    assert np.array_equal(round_trip(kept, ENCODING), kept)  # already on the fixed-point grid


def test_saved_and_loaded_under_its_own_key_only(tmp_path):
    path = kept_path(tmp_path, 1337, BOARD, 3, 0, ACCOUNT, HASH)
    assert path.parent == tmp_path / "kept-updates" / f"1337-{BOARD.lower()}" / "3" / "0"
    save_kept_update(path, np.arange(5.0))
    assert np.array_equal(load_kept_update(path), np.arange(5.0))
    assert path.stat().st_mode & 0o077 == 0  # private to the owner
    other = kept_path(tmp_path, 1337, BOARD, 3, 1, ACCOUNT, HASH)  # another round
    assert load_kept_update(other) is None
    with pytest.raises(ValueError):
        kept_path(tmp_path, 1337, BOARD, 3, 0, ACCOUNT, "../../etc/passwd")


def test_a_pickled_or_odd_file_is_not_loaded(tmp_path):
    path = kept_path(tmp_path, 1, BOARD, 1, 0, ACCOUNT, HASH)
    path.parent.mkdir(parents=True)
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert load_kept_update(path) is None
    np.save(path, np.ones((2, 2)))
    assert load_kept_update(path) is None
    path.write_bytes(b"not an npy file")
    assert load_kept_update(path) is None


def test_a_kept_update_changed_since_it_was_written_is_damaged_not_kept(tmp_path):
    path = kept_path(tmp_path, 1, BOARD, 1, 0, ACCOUNT, HASH)
    save_kept_update(path, np.arange(5.0))
    digest = path.with_name(path.name.removesuffix(".npy") + ".sha256")
    assert digest.read_text() == kept_digest(np.arange(5.0)) and digest.stat().st_mode & 0o077 == 0
    vector, why = read_kept_update(path)
    assert np.array_equal(vector, np.arange(5.0)) and why == ""
    assert read_kept_update(kept_path(tmp_path, 1, BOARD, 1, 1, ACCOUNT, HASH)) == (None, "")  # none kept
    for changed in (np.array([0.0, 1.0, 2.0, 3.0, 4.0 + 1e-12]), np.arange(4.0), np.arange(5.0) * -1):
        np.save(path, changed)  # readable, one float64 vector: only the digest tells
        assert read_kept_update(path) == (None, "it no longer matches what was written when you sent it")
        assert load_kept_update(path) is None
    # a kept update written by an older wallet has no digest beside it: it loads as before
    digest.unlink()
    assert np.array_equal(load_kept_update(path), np.arange(5.0) * -1)
    digest.write_bytes(b"\xff\xfe")  # a digest that cannot be read vouches for nothing
    assert load_kept_update(path) is None


@pytest.mark.parametrize("keep", [0, 5, 60, 130, -1])
def test_a_truncated_kept_update_is_damaged_not_kept(tmp_path, keep):
    path = kept_path(tmp_path, 1, BOARD, 1, 0, ACCOUNT, HASH)
    save_kept_update(path, np.arange(5.0))
    path.write_bytes(path.read_bytes()[:keep])  # 0: an empty file (np.load raises EOFError)
    assert read_kept_update(path) == (None, "its file cannot be read")


def test_an_earlier_update_damaged_since_it_was_sent_is_no_repeat(tmp_path):
    from types import SimpleNamespace

    client = SimpleNamespace(store=SimpleNamespace(home=tmp_path), chain_id=1, board_address=BOARD,
                             submission=lambda bounty, round_, sender: {"blob_hash": HASH})
    vector = np.linspace(-1.0, 1.0, 40)
    path = kept_path(tmp_path, 1, BOARD, 1, 0, ACCOUNT, HASH)
    save_kept_update(path, vector)
    assert sent_before(client, ACCOUNT, vector, 2, 0) == (1, 0, ACCOUNT.lower())
    np.save(path, vector * 2)  # still a copy of it by the rule, but not what was sent
    assert sent_before(client, ACCOUNT, vector, 2, 0) is None
    path.write_bytes(b"")  # an empty file is skipped, not an error
    assert sent_before(client, ACCOUNT, vector, 2, 0) is None
    for start in ZIP_STARTS:  # a damaged file that starts like a zip archive: skipped too
        path.write_bytes(start + b"\x00" * 40)
        assert sent_before(client, ACCOUNT, vector, 2, 0) is None


# np.load reads a file that starts with a zip header as an archive (a broken one raises
# BadZipFile; an empty archive's end record loads as an NpzFile, not an array)
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")


@pytest.mark.parametrize("start", ZIP_STARTS)
def test_a_kept_update_damaged_into_a_zip_header_is_damaged_not_an_error(tmp_path, start):
    path = kept_path(tmp_path, 1, BOARD, 1, 0, ACCOUNT, HASH)
    save_kept_update(path, np.arange(5.0))
    path.write_bytes(start + b"\x00" * 40)
    vector, why = read_kept_update(path)
    assert vector is None and why in ("its file cannot be read", "its file does not hold one float64 vector")


def test_kept_copy_is_exactly_what_the_practitioner_decrypts_with_stochastic_rounding():
    # The 17-bit-slot default rounds stochastically; the wallet re-derives the same draw from
    # the update itself, so its kept copy matches the decrypted blob bit for bit.
    from trainer.aggregate import decrypt_update
    from trainer.testing import test_keypair
    from trainer.update import encrypt_vector_to_blob
    from trainer.update_blob import parse_blob

    public_key, private_key = test_keypair(512)
    encoding = EncodingParams(precision_bits=8, clip=2.0, max_contributors=100, key_bits=512)
    delta = np.random.default_rng(5).normal(0, 0.05, 300)
    blob = encrypt_vector_to_blob(public_key, delta, encoding, bounty_id=1, round=0,
                                  n_samples=10, workers=1)
    decrypted = decrypt_update(private_key, parse_blob(blob, expected_public_key=public_key), workers=1)
    kept = round_trip(delta, encoding)
    assert np.array_equal(decrypted, kept)
    assert not np.array_equal(kept, np.rint(delta * 256) / 256)  # not simply nearest rounding
