"""A worker process for trainer.paillier: `python -m trainer._worker`, driven over stdin/stdout.

Plain subprocesses rather than multiprocessing: multiprocessing's spawn re-imports the caller's
__main__ (which breaks under GUIs, notebooks and `python -`) and pickles its messages; this
protocol is a JSON line then fixed-width big-endian integers, nothing else.

    parent -> worker: one JSON line {"op": "encrypt", "n": "<dec>", "hs": "<dec>"}
                                  or {"op": "decrypt", "n": "<dec>", "p": "<dec>", "q": "<dec>"}
    then repeatedly:  u32 count (0 = stop), then count integers of `width` bytes each
    worker -> parent: count integers of `width` bytes each (ciphertexts or plaintexts)

width = ceil(2 * bits(n) / 8), big enough for anything mod n^2.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import BinaryIO


def width_for(n: int) -> int:
    return (2 * n.bit_length() + 7) // 8


def read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("stream closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_ints(stream: BinaryIO, values: list[int], width: int, with_count: bool) -> None:
    parts = [struct.pack(">I", len(values))] if with_count else []
    parts += [int(v).to_bytes(width, "big") for v in values]
    stream.write(b"".join(parts))
    stream.flush()


def read_ints(stream: BinaryIO, count: int, width: int) -> list[int]:
    raw = read_exact(stream, count * width)
    return [int.from_bytes(raw[i * width : (i + 1) * width], "big") for i in range(count)]


def main() -> int:
    from phe import paillier

    from trainer.obfuscator import EXPONENT_BYTES, FixedBaseObfuscator

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    config = json.loads(stdin.readline())
    n = int(config["n"])
    width = width_for(n)
    if config["op"] == "encrypt":
        obf = FixedBaseObfuscator(n, int(config["hs"]))

        def work(values: list[int]) -> list[int]:
            return [int(obf.encrypt(m, os.urandom(EXPONENT_BYTES))) for m in values]

    elif config["op"] == "decrypt":
        key = paillier.PaillierPrivateKey(
            paillier.PaillierPublicKey(n), int(config["p"]), int(config["q"])
        )

        def work(values: list[int]) -> list[int]:
            return [key.raw_decrypt(c) for c in values]

    else:
        return 2
    while True:
        (count,) = struct.unpack(">I", read_exact(stdin, 4))
        if count == 0:
            return 0
        write_ints(stdout, work(read_ints(stdin, count, width)), width, with_count=False)


if __name__ == "__main__":
    sys.exit(main())
