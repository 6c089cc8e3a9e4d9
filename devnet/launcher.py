"""Finding, starting and stopping a home's embedded network, without loading the node.

`running_url(home)` tells whether this home's devnet answers; `ensure_running(home)` starts
`python -m devnet` detached when nothing answers; `stop_running(home)` stops it;
`serve_forever` (`quarry devnet`, `python -m devnet`) runs one in the foreground. State lives
in `<home>/devnet/chain.sqlite`, so a restart continues the same chain. Only this module's
foreground path loads py-evm (devnet.node); the rest is the standard library.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from common.errors import UserError
from common.paths import data_home
from devnet.config import DEFAULT_PORT, MAX_ANSWER_BYTES, START_TIMEOUT_SECONDS
from devnet.errors import DevnetError, DevnetUnreachable
from devnet.server_info import devnet_dir, read_server_info
from trainer import jsonsafe


def rpc_request(url: str, method: str, params: list[Any] | None = None, timeout: float = 5) -> Any:
    """One JSON-RPC call with urllib; DevnetUnreachable when the node is unreachable or refuses."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = jsonsafe.loads(response.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DevnetUnreachable(f"Cannot reach the Ethereum node at {url}: {reason}") from exc
    if not isinstance(answer, dict):
        raise DevnetUnreachable(f"The node at {url} answered something that is not JSON-RPC.")
    if "error" in answer:
        message = answer["error"].get("message", "error") if isinstance(answer["error"], dict) else answer["error"]
        raise DevnetUnreachable(f"The node at {url} refused {method}: {message}")
    return answer.get("result")


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's: not our devnet
        return False
    return True


def running_url(home: str | os.PathLike[str] | None = None) -> str | None:
    """The URL of the devnet serving this home, if one answers as that devnet.

    server.json may outlive its devnet (killed, crashed) and another program may have taken
    its port since: the recorded process must be alive and the node at the URL must report
    the recorded chain id and BountyBoard address."""
    info = read_server_info(devnet_dir(home))
    if info is None or not _pid_alive(info.get("pid")):
        return None
    try:
        contracts = rpc_request(info["url"], "quarry_contracts", timeout=2)
    except DevnetUnreachable:
        return None
    if not isinstance(contracts, dict) or contracts.get("chainId") != info.get("chainId"):
        return None
    if "board" in info and contracts.get("board") != info["board"]:
        return None
    return info["url"]


def stop_running(home: str | os.PathLike[str] | None = None, timeout: float = 30) -> str | None:
    """Stop this home's running devnet (SIGTERM, then wait); its URL, or None if none ran."""
    import signal

    directory = devnet_dir(home)
    url = running_url(home)
    if url is None:
        return None
    pid = read_server_info(directory)["pid"]
    if pid == os.getpid():
        raise DevnetError("The embedded network runs inside this process; it stops when the process ends.")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid) or read_server_info(directory) is None:
            return url
        time.sleep(0.1)
    raise DevnetError(f"The embedded network (pid {pid}) did not stop within {timeout:.0f} s.")


def ensure_running(home: str | os.PathLike[str] | None = None, port: int = DEFAULT_PORT,
                   timeout: float = START_TIMEOUT_SECONDS, plugins: bool = True,
                   on_start: Callable[[str], None] | None = None) -> str:
    """The URL of this home's devnet; starts `python -m devnet` detached if none answers
    (with its plugins, e.g. the demo practitioner, unless `plugins` is False). `on_start` is
    called with the URL when this call started it, so the caller can say so."""
    url = running_url(home)
    if url is not None:
        return url
    directory = devnet_dir(home)
    if not _port_is_free(port):
        port = 0  # another program (or another home's devnet) has it: take any free port
    log_file = open(directory / "devnet.log", "ab")  # noqa: SIM115 (handed to the child)
    with log_file:
        command = [sys.executable, "-m", "devnet", "--home", str(data_home(home)), "--port", str(port)]
        process = subprocess.Popen(
            command + ([] if plugins else ["--no-plugins"]),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True,  # outlives the app that started it
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = running_url(home)
        if url is not None:
            if on_start is not None:
                on_start(url)
            return url
        if process.poll() is not None:
            tail = (directory / "devnet.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise DevnetError(f"The embedded network did not start: {tail[0] if tail else 'no output'}")
        time.sleep(0.2)
    raise DevnetError(f"The embedded network did not answer within {timeout:.0f} s (see {directory / 'devnet.log'}).")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(port: int | None, announce: Callable[[str], Any] = print) -> int:
    """`port` if given; else the default port, or 0 (any free one) with a note when another
    program or another home's devnet holds it."""
    if port is not None:
        return port
    if _port_is_free(DEFAULT_PORT):
        return DEFAULT_PORT
    announce(f"Port {DEFAULT_PORT} is in use (another program, or another home's embedded "
             "network); serving on a free port instead.")
    return 0


def serve_forever(home: str | os.PathLike[str] | None, port: int | None = None, plugins: bool = True,
                  announce: Callable[[str], Any] = print) -> None:
    """Run the devnet in the foreground until interrupted (Ctrl-C or SIGTERM).

    `port` None means the default port, or any free one (said) when another program or
    another home's devnet holds it; a port asked for explicitly is used or refused."""
    import signal

    from devnet.node import Devnet

    port = choose_port(port, announce)
    # the handler comes first: a SIGTERM sent as soon as server.json appears stops it cleanly
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    devnet = Devnet(devnet_dir(home), port)
    devnet.start(plugins=plugins)
    announce(f"Embedded network (chain {devnet.chain.chain_id}) serving at {devnet.url}")
    announce(f"QuarryToken {devnet.token}, BountyBoard {devnet.board}")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        devnet.stop()
        announce("Embedded network stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet", description="Run the embedded network.")
    parser.add_argument("--home", help="data directory")
    parser.add_argument("--port", type=int, default=None,
                        help=f"default {DEFAULT_PORT}, or a free one when that is taken")
    parser.add_argument("--no-plugins", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        serve_forever(args.home, args.port, plugins=not args.no_plugins)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

