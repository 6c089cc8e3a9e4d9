"""Connecting the app to the selected network in the background, with the status shown."""

from __future__ import annotations

import logging
from typing import Any

from ui.context import AppContext

log = logging.getLogger(__name__)

EMBEDDED = "embedded"


def selected_network(ctx: AppContext) -> str:
    return str(ctx.setting("ui.network", EMBEDDED) or EMBEDDED)


def connect(ctx: AppContext, on_done: Any = None, on_failure: Any = None) -> None:
    """Start/reach the network in a worker; ctx.chain and the status follow on the GUI thread."""
    name = selected_network(ctx)
    home = ctx.home
    ctx.network.set("busy", "Starting the embedded network…" if name == EMBEDDED
                    else "Connecting…")

    def work(_task_ctx: Any) -> Any:
        from wallet import devnet

        if name == EMBEDDED:
            return devnet.ensure_running(home)
        return name

    def done(result: Any) -> None:
        ctx.chain = result
        ctx.network.set("ok", f"Embedded network · {result}" if name == EMBEDDED else str(result))
        ctx.events.notify("network")
        if on_done:
            on_done(result)

    def failed(message: str) -> None:
        ctx.network.set("error", message)
        if on_failure:
            on_failure(message)

    ctx.runner.run(work, on_success=done, on_failure=failed)
