"""A practitioner ready to post on a fresh py-evm market: a 512-bit Paillier key saved in its
home, a funded signer holding 100 QDT, and its Session. Import into a module's fixtures:
``from tests.practitioner_fixtures import practitioner_on_market``."""

from __future__ import annotations

from pathlib import Path

from phe import paillier

from practitioner.keys import generate_keypair, save_private_key
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.chain_fixtures import TOKEN_UNIT, Market, funded_signer, new_market

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
