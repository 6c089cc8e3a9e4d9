"""Amounts, balances and sends of ETH and QDT on the devnet."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from devnet.config import CHAIN_ID, FAUCET_ETH, FAUCET_TOKENS
from tests.anvil import (
    devnet,  # noqa: F401 (fixtures)
    devnet_w3,
    faucet_signer,
)
from wallet.errors import InvalidInput, TransactionFailed
from wallet.token import balances, format_amount, parse_amount, preview_send, send, token_balance
from wallet.tx import wait_for_receipt


@pytest.mark.parametrize(("text", "decimals", "units"), [
    ("1.5", 18, 1_500_000_000_000_000_000),
    ("0.000000000000000001", 18, 1),
    ("12", 6, 12_000_000),
    (".25", 2, 25),
    ("1.50", 1, 15),
    ("1_000", 0, 1000),
    ("0", 18, 0),
])
def test_parse_amount_is_exact(text, decimals, units):
    assert parse_amount(text, decimals) == units


@pytest.mark.parametrize("text", ["-1", "1e18", "abc", "", "1.2.3", "NaN", "0x10", "1,5"])
def test_parse_amount_refuses_garbage(text):
    with pytest.raises(InvalidInput):
        parse_amount(text, 18)


def test_parse_amount_refuses_too_many_decimals():
    with pytest.raises(InvalidInput, match="more than 6 decimals"):
        parse_amount("1.0000001", 6)


@given(st.integers(min_value=0, max_value=10**40), st.integers(min_value=0, max_value=30))
def test_format_and_parse_round_trip(units, decimals):
    assert parse_amount(format_amount(units, decimals), decimals) == units


def test_format_amount_display_rounding():
    assert format_amount(1_234_567_890_000_000_000, 18) == "1.23456789"
    assert format_amount(1_234_567_890_000_000_000, 18, max_decimals=2) == "1.23"
    assert format_amount(10**18, 18) == "1"
    assert format_amount(0, 18) == "0"


def test_balances_preview_and_send_tokens(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    found = balances(w3, signer.address, [devnet.token])
    assert [(b.symbol, b.units) for b in found] == [("ETH", FAUCET_ETH), ("QDT", FAUCET_TOKENS)]
    assert found[1].text == "1000"
    receiver = Account.create().address
    preview = preview_send(w3, signer.address, receiver, "2.5", devnet.token)
    assert preview.amount_units == 2_500_000_000_000_000_000 and preview.symbol == "QDT"
    assert preview.fee.gas > 21_000 and preview.fee.max_cost_wei >= preview.fee.expected_cost_wei > 0
    assert "Send 2.5 QDT to" in preview.describe()
    tx_hash = send(w3, signer, preview, CHAIN_ID)
    wait_for_receipt(w3, tx_hash, timeout=20)
    assert token_balance(w3, devnet.token, receiver) == 2_500_000_000_000_000_000


def test_send_eth_and_refuse_what_is_not_there(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    receiver = Account.create().address
    preview = preview_send(w3, signer.address, receiver, "0.25")
    assert preview.fee.gas == 21_000 and preview.token is None
    wait_for_receipt(w3, send(w3, signer, preview, CHAIN_ID), timeout=20)
    assert w3.eth.get_balance(receiver) == 250_000_000_000_000_000
    with pytest.raises(TransactionFailed, match="Insufficient QDT"):
        preview_send(w3, signer.address, receiver, "1000.5", devnet.token)
    with pytest.raises(TransactionFailed, match="Insufficient funds"):
        preview_send(w3, signer.address, receiver, "10")
    with pytest.raises(InvalidInput, match="checksum"):
        preview_send(w3, signer.address, receiver[:-1] + ("a" if receiver[-1] != "a" else "b"), "1")


def test_token_info_is_not_served_from_another_providers_cache(devnet):
    """The cache is keyed by the provider's id; an entry left by another provider that had the
    same id (ids are reused once an object is freed) must not be served: it may be another
    chain's token with other decimals."""
    from wallet import token as token_module

    w3 = devnet_w3(devnet)
    stale = token_module.TokenInfo(devnet.token, "FAKE", 6, "Another chain's token")
    token_module._token_info_cache[(id(w3.provider), devnet.token)] = (object(), stale)
    info = token_module.token_info(w3, devnet.token)
    assert (info.symbol, info.decimals) == ("QDT", 18)
    assert token_module.token_info(w3, devnet.token) is info  # cached for this provider
