"""What every practitioner command needs: the home, the chain (web3 + board), a signer, blobs.

A session is built from explicit values (the CLI resolves options, the demo passes its
DevnetContext); nothing here prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from practitioner.chain import BoardClient
from practitioner.state import PractitionerHome, read_local_blob, store_blob
from wallet.blob_store import fetch_blob
from wallet.errors import NotFound

MAX_FETCH_BYTES = 64 * 1024 * 1024


@dataclass
class Session:
    home: PractitionerHome
    w3: Web3
    chain_id: int
    board_address: str
    token_address: str | None
    signer: LocalAccount | None
    inbox_url: str = ""  # public base URL of the inbox serving home.blob_dir ("" = file://)

    @property
    def client(self) -> BoardClient:
        return BoardClient(self.w3, self.board_address, self.chain_id, self.signer)

    def amount_text(self, units: int, token: str | None = None) -> str:
        """Token base units as people read them: `200000 QDT` (the token's decimals and symbol)."""
        from wallet.token import format_amount, token_info

        address = token or self.token_address
        if not address:
            return f"{units} base units"
        info = token_info(self.w3, address)
        return f"{format_amount(units, info.decimals)} {info.symbol}"

    def bounty_dir(self, bounty_id: int) -> Path:
        return self.home.bounty_dir(self.chain_id, self.board_address, bounty_id)

    # -- blobs ---------------------------------------------------------------------------

    def publish(self, data: bytes, inbox_url: str | None = None) -> tuple[str, str]:
        """Store a blob locally; (hash, URI) where the inbox (or file://) serves it."""
        digest = store_blob(self.home.blob_dir, data)
        base = self.inbox_url if inbox_url is None else inbox_url
        if base:
            return digest, f"{base.rstrip('/')}/blobs/{digest}"
        return digest, (self.home.blob_dir / digest).resolve().as_uri()

    def blob(self, blob_hash: str, uri: str = "", max_bytes: int = MAX_FETCH_BYTES) -> bytes:
        """The blob with `blob_hash`: from the local store (published blobs, then updates the
        inbox received), else fetched from `uri` and checked."""
        for directory in (self.home.blob_dir, self.home.upload_dir):
            local = read_local_blob(directory, blob_hash)
            if local is not None:
                return local
        if not uri:
            raise NotFound(f"Blob {blob_hash} is not stored here and has no URI.")
        # file:// URIs of the practitioner's own (local) market: owners' blobs may lie anywhere
        # on this machine (each owner's home); the keccak check still holds
        return fetch_blob(uri, blob_hash, max_bytes, file_roots=None)
