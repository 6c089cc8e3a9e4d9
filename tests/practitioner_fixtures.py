"""A practitioner ready to post on a fresh py-evm market: a 512-bit Paillier key saved in its
home, a funded signer holding 100 QDT, and its Session. Import into a module's fixtures:
``from tests.practitioner_fixtures import practitioner_on_market``. For the command-line tool
on the embedded network: ``practitioner_home_on_devnet``."""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount
from phe import paillier

from practitioner.keys import generate_keypair, save_private_key
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.anvil import faucet_signer
from tests.chain_fixtures import TOKEN_UNIT, Market, funded_signer, new_market
from wallet.vault import Vault

KEY_PASSWORD = "pw"


def practitioner_on_market(home: Path) -> tuple[Market, Session, paillier.PaillierPrivateKey]:
    market = new_market()
    practitioner_home = PractitionerHome.at(home)
    _, private_key = generate_keypair(512)
    save_private_key(practitioner_home.key_path, private_key, KEY_PASSWORD)
    practitioner = funded_signer(market.chain)
    market.mint(practitioner.address, 100 * TOKEN_UNIT)
    session = Session(
        home=practitioner_home, w3=market.w3, chain_id=market.w3.eth.chain_id,
        board_address=market.board.address, token_address=market.token.address,
        signer=practitioner,
    )
    return market, session, private_key


def practitioner_home_on_devnet(node: object, home: Path, files: Path, *, key_password: str = "key pw",
                                wallet_password: str = "wallet pw") -> LocalAccount:
    """A practitioner home for `quarry-practitioner` on a running devnet: a 512-bit Paillier key
    (`key_password`), and in its wallet a fresh account the faucet funded (`wallet_password`);
    the two passwords written to `files`/key-pw and `files`/wallet-pw. Returns the account."""
    _, private_key = generate_keypair(512)
    save_private_key(PractitionerHome.at(home).key_path, private_key, key_password)
    signer = faucet_signer(node)  # type: ignore[arg-type]
    with Vault.load(home) as vault:
        vault.import_private_key(signer.key, wallet_password)
    (files / "key-pw").write_text(key_password + "\n")
    (files / "wallet-pw").write_text(wallet_password + "\n")
    return signer
