"""The inbox under load: python -m benchmarks.inbox [--uploads 1000] [--clients 100]
[--bytes 60000] [--bad 200] [--json].

Each server (the standard library's `practitioner.inbox.InboxServer`, the old one, kept as
the baseline, and `practitioner.inbox_aio.AioInboxServer`) runs in a process of its own on
127.0.0.1 with the practitioner's limits and an admission check (`admit`: the upload's hash
must be committed for the contributor named in X-Quarry-Contributor, here from a table
written before the run instead of the chain, so the load measures the server). `clients`
loopback clients, each from its own source address 127.0.0.x (so each has its own rate
bucket, as owners on the internet do, with the default rate and burst), send `uploads`
good uploads of `bytes` bytes (about a 10,000-parameter update), mixed at random with `bad`
bad ones: a body that does not match its hash, an uncommitted blob, a body over the size
limit, a missing Content-Length. Checked: every good upload answered 201 and stored with
the right hash (re-read from disk), every bad one refused (4xx, or the connection closed
on an oversized body) and not stored. Latency: per good upload, send to response read.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from benchmarks._common import emit, machine

SERVERS = ("stdlib", "aiohttp")
MAX_BLOB_BYTES = 128 * 1024


def _hash(data: bytes) -> str:
    return "0x" + keccak(data).hex()


def serve(kind: str, directory: Path, committed_path: Path) -> None:
    """The server process: prints its port, serves until stdin closes."""
    from practitioner.inbox import InboxServer, Refused
    from practitioner.inbox_aio import AioInboxServer

    committed: dict[str, str] = json.loads(committed_path.read_text())

    def admit(blob_hash: str, body: bytes, contributor: str | None) -> None:
        if not contributor or committed.get(blob_hash.lower()) != contributor.lower():
            raise Refused(403, "not committed on chain by this contributor")

    cls = InboxServer if kind == "stdlib" else AioInboxServer
    server = cls(directory / "blobs", upload_dir=directory / "uploads",
                 max_blob_bytes=MAX_BLOB_BYTES, admit=admit)
    server.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.stop()


def _requests(uploads: int, bad: int, size: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    rng = random.Random(seed)
    work: list[dict[str, Any]] = []
    committed: dict[str, str] = {}
    for i in range(uploads):
        body = rng.randbytes(size)
        contributor = f"0x{i + 1:040x}"
        committed[_hash(body)] = contributor
        work.append({"kind": "good", "body": body, "hash": _hash(body), "contributor": contributor})
    kinds = ("mismatch", "uncommitted", "oversized", "no_length")
    for i in range(bad):
        kind = kinds[i % len(kinds)]
        body = rng.randbytes(MAX_BLOB_BYTES * 2 if kind == "oversized" else size)
        digest = _hash(body if kind != "mismatch" else body + b"!")
        work.append({"kind": kind, "body": body, "hash": digest, "contributor": f"0x{10**6 + i:040x}"})
    rng.shuffle(work)
    return work, committed


def _send(address: tuple[str, int], source: str, item: dict[str, Any]) -> tuple[int | str, float]:
    connection = http.client.HTTPConnection(*address, timeout=60, source_address=(source, 0))
    started = time.perf_counter()
    try:
        headers = {"X-Quarry-Contributor": item["contributor"],
                   "Content-Type": "application/octet-stream"}
        if item["kind"] == "no_length":
            connection.putrequest("PUT", f"/blobs/{item['hash']}")
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            connection.send(item["body"][:100])
        else:
            connection.request("PUT", f"/blobs/{item['hash']}", body=item["body"], headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    except (TimeoutError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return "closed", time.perf_counter() - started
    finally:
        connection.close()


def load(kind: str, uploads: int, clients: int, size: int, bad: int, seed: int = 0) -> dict[str, Any]:
    work, committed = _requests(uploads, bad, size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "committed.json").write_text(json.dumps(committed))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.inbox", "--serve", kind, str(directory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            tasks: queue.Queue[dict[str, Any]] = queue.Queue()
            for item in work:
                tasks.put(item)
            results: list[tuple[dict[str, Any], int | str, float]] = []
            lock = threading.Lock()

            def client(number: int) -> None:
                source = f"127.0.{number // 250}.{number % 250 + 2}"
                while True:
                    try:
                        item = tasks.get_nowait()
                    except queue.Empty:
                        return
                    status, seconds = _send(("127.0.0.1", port), source, item)
                    with lock:
                        results.append((item, status, seconds))

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            stored = {p.name: p.read_bytes() for p in (directory / "uploads").iterdir()}
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=30)
    good = [(item, status, seconds) for item, status, seconds in results if item["kind"] == "good"]
    # latency of the uploads that were stored (a refused or dropped one can be fast)
    latencies = sorted(seconds for _, status, seconds in good if status == 201)
    lost = [item["hash"] for item, status, _ in good if status != 201 or item["hash"] not in stored]
    corrupted = [h for h, data in stored.items() if _hash(data) != h]
    bad_results = [(item, status) for item, status, _ in results if item["kind"] != "good"]
    accepted_bad = [item["kind"] for item, status in bad_results
                    if not (status == "closed" or 400 <= int(status) < 500) or item["hash"] in stored]
    by_status: dict[str, int] = {}
    for item, status in bad_results:
        key = f"{item['kind']}:{status}"
        by_status[key] = by_status.get(key, 0) + 1

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    failed: dict[str, int] = {}
    for _, status, _ in good:
        if status != 201:
            failed[str(status)] = failed.get(str(status), 0) + 1
    return {
        "server": kind,
        "good_failed_answers": failed,
        "good_uploads": len(good),
        "bad_requests": len(bad_results),
        "lost_or_failed": len(lost),
        "corrupted": len(corrupted),
        "bad_accepted": len(accepted_bad),
        "bad_answers": dict(sorted(by_status.items())),
        "p50_ms": round(1000 * percentile(0.50), 2),
        "p99_ms": round(1000 * percentile(0.99), 2),
        "seconds": round(wall, 3),
        "uploads_per_s": round(len(good) / wall, 1),
    }


def run(uploads: int = 1000, clients: int = 100, size: int = 60_000, bad: int = 200) -> dict[str, Any]:
    results = {kind: load(kind, uploads, clients, size, bad) for kind in SERVERS}
    old, new = results["stdlib"], results["aiohttp"]
    return {
        **results,
        "p50_ratio_new_vs_old": round(new["p50_ms"] / old["p50_ms"], 3) if old["p50_ms"] else None,
        "p99_ratio_new_vs_old": round(new["p99_ms"] / old["p99_ms"], 3) if old["p99_ms"] else None,
        "uploads": uploads, "clients": clients, "bytes": size,
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The inbox under load (old and new server).")
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--bytes", type=int, default=60_000)
    parser.add_argument("--bad", type=int, default=200)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        directory = Path(args.serve[1])
        serve(args.serve[0], directory, directory / "committed.json")
        return 0
    result = run(args.uploads, args.clients, args.bytes, args.bad)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    for kind in SERVERS:
        shown = {k: v for k, v in result[kind].items()
                 if k not in ("bad_answers", "good_failed_answers")}
        emit(f"Inbox ({kind}): {args.uploads} uploads of {args.bytes} bytes from "
             f"{args.clients} clients, {args.bad} bad requests", shown, False)
        print("bad requests answered:", result[kind]["bad_answers"])
        print("good uploads not stored, by answer:", result[kind]["good_failed_answers"], "\n")
    print("p50 new/old:", result["p50_ratio_new_vs_old"], " p99 new/old:", result["p99_ratio_new_vs_old"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
