"""ETH and ERC-20 balances, exact amounts, and sending either with a fee preview.

Amounts are parsed and formatted with integer arithmetic from the token's `decimals`, never floats:
"1.5" of an 18-decimals token is exactly 1500000000000000000 base units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.artifacts import abi
from wallet.errors import InvalidInput, TransactionFailed
from wallet.network import check_address
from wallet.tx import FeeQuote, build_transaction, explain, sign_and_send
from wallet.untrusted import printable

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from wallet.store import Store

# web3 and eth-account only in type hints: the GUI's pages format amounts with this module
# before any network is reached, and importing web3 costs most of a second.

ETH_DECIMALS = 18
_AMOUNT = re.compile(r"^(\d+)(?:\.(\d*))?$|^\.(\d+)$")
MAX_DECIMALS = 36


def parse_amount(text: str, decimals: int = ETH_DECIMALS) -> int:
    """'1.5' -> base units; refuses negatives, exponents, and more decimals than the token has.

    Integer arithmetic on the digits: exact at any size (Decimal's default context would
    round past 28 digits).
    """
    if not isinstance(text, str):
        raise InvalidInput(f"Not an amount: {text!r}")
    cleaned = text.strip().replace("_", "")
    match = _AMOUNT.match(cleaned)
    if not match:
        raise InvalidInput(f"Not an amount: {text!r} (write it like 12 or 1.5)")
    whole = match.group(1) or "0"
    fraction = (match.group(2) if match.group(1) is not None else match.group(3)) or ""
    fraction = fraction.rstrip("0")
    if len(fraction) > decimals:
        raise InvalidInput(f"{text.strip()} has more than {decimals} decimals.")
    return int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")


def format_amount(units: int, decimals: int = ETH_DECIMALS, max_decimals: int | None = None) -> str:
    """Base units -> '1.5' (exact unless max_decimals rounds down for display)."""
    units = int(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    digits = str(fraction).rjust(decimals, "0") if decimals else ""
    if max_decimals is not None:
        digits = digits[:max_decimals]
    digits = digits.rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


@dataclass(frozen=True)
class TokenInfo:
    address: str
    symbol: str
    decimals: int
    name: str


# (id of the provider, address) -> (the provider, info): keeping the provider alive means its
# id cannot be reused by another chain's provider, which would show another token's decimals
_token_info_cache: dict[tuple[int, str], tuple[Any, TokenInfo]] = {}


def erc20(w3: Web3, address: str):
    return w3.eth.contract(address=check_address(address, "token address"), abi=abi("QuarryToken"))


def token_info(w3: Web3, address: str) -> TokenInfo:
    """Symbol, decimals and name of an ERC-20 (cached per chain and address)."""
    address = check_address(address, "token address")
    key = (id(w3.provider), address)
    cached = _token_info_cache.get(key)
    if cached is None or cached[0] is not w3.provider:
        contract = erc20(w3, address)
        try:
            decimals = int(contract.functions.decimals().call())
            symbol = str(contract.functions.symbol().call())
            name = str(contract.functions.name().call())
        except Exception as exc:
            raise InvalidInput(f"{address} does not answer like an ERC-20 token: {explain(exc, w3)}") from exc
        if not 0 <= decimals <= MAX_DECIMALS:
            raise InvalidInput(f"The token {address} claims {decimals} decimals.")
        # the symbol and name are the token contract's own words: shown, so made printable
        _token_info_cache[key] = (w3.provider, TokenInfo(address, printable(symbol[:16]), decimals,
                                                         printable(name[:64])))
    return _token_info_cache[key][1]


def short_address(address: str) -> str:
    """0x1234…abcd: enough to tell two addresses apart at a glance, with the full one nearby."""
    return f"{address[:6]}…{address[-4:]}"


@dataclass(frozen=True)
class TokenLabel:
    """A bounty's token as people should read it: its own symbol and decimals, and whether
    the network lists it (`known`). A token's symbol is its contract's own claim: a worthless
    look-alike may call itself "QDT" too, so an unlisted token is marked with its address."""

    address: str
    symbol: str
    decimals: int
    known: bool
    erc20: bool = True  # False: the contract does not answer like an ERC-20

    @property
    def text(self) -> str:
        if not self.erc20:
            return f"units of {self.address} (not an ERC-20 token)"
        if self.known:
            return self.symbol
        return f"{self.symbol} (unverified token {short_address(self.address)})"

    @property
    def short(self) -> str:
        """For narrow table cells: "QDT", or "QDT ⚠ 0x1234…abcd" for an unlisted token."""
        if self.known and self.erc20:
            return self.symbol
        return f"{self.symbol if self.erc20 else '?'} ⚠ {short_address(self.address)}"

    def amount(self, units: int, max_decimals: int | None = None) -> str:
        """"12.5 QDT", "3 USDC (unverified token 0x1234…abcd)"."""
        return f"{format_amount(units, self.decimals, max_decimals)} {self.text}"

    def value(self, units: int) -> float:
        """For sorting, filters and charts only (never for money)."""
        return int(units) / 10**self.decimals


def token_label(w3: Web3, address: str, known: Any = ()) -> TokenLabel:
    """The token's symbol and decimals read from its contract (cached per chain and address);
    `known` are the token addresses the network lists (its configured reward token)."""
    address = check_address(address, "token address")
    listed = {str(k).lower() for k in known if k}
    try:
        info = token_info(w3, address)
    except InvalidInput:
        return TokenLabel(address, "?", 0, address.lower() in listed, erc20=False)
    return TokenLabel(address, info.symbol or "?", info.decimals, address.lower() in listed)


def eth_balance(w3: Web3, account: str) -> int:
    try:
        return int(w3.eth.get_balance(check_address(account)))
    except InvalidInput:
        raise
    except Exception as exc:
        raise explain(exc, w3) from exc


def token_balance(w3: Web3, token: str, account: str) -> int:
    try:
        return int(erc20(w3, token).functions.balanceOf(check_address(account)).call())
    except InvalidInput:
        raise
    except Exception as exc:
        raise explain(exc, w3) from exc


@dataclass(frozen=True)
class Balance:
    symbol: str
    units: int
    decimals: int
    token: str | None  # None for ETH

    @property
    def text(self) -> str:
        return format_amount(self.units, self.decimals)


def balances(w3: Web3, account: str, tokens: list[str]) -> list[Balance]:
    """ETH first, then each token."""
    found = [Balance("ETH", eth_balance(w3, account), ETH_DECIMALS, None)]
    for token in tokens:
        info = token_info(w3, token)
        found.append(Balance(info.symbol, token_balance(w3, token, account), info.decimals, info.address))
    return found


@dataclass(frozen=True)
class SendPreview:
    """Everything the review step shows before the user confirms a send."""

    sender: str
    to: str
    amount_units: int
    symbol: str
    decimals: int
    token: str | None
    tx: dict[str, Any]
    fee: FeeQuote

    @property
    def amount_text(self) -> str:
        return format_amount(self.amount_units, self.decimals)

    def describe(self) -> str:
        return (f"Send {self.amount_text} {self.symbol} to {self.to}; network fee about "
                f"{format_amount(self.fee.expected_cost_wei, 18, 8)} ETH "
                f"(at most {format_amount(self.fee.max_cost_wei, 18, 8)} ETH).")


def preview_send(w3: Web3, sender: str, to: str, amount: str, token: str | None = None) -> SendPreview:
    """Check the amount and balances and quote the fee; nothing is signed or sent."""
    sender = check_address(sender, "sender")
    to = check_address(to, "recipient")
    if token:
        info = token_info(w3, token)
        units = parse_amount(amount, info.decimals)
        if units == 0:
            raise InvalidInput("The amount must be more than zero.")
        held = token_balance(w3, info.address, sender)
        if held < units:
            raise TransactionFailed(
                f"Insufficient {info.symbol}: {sender} has {format_amount(held, info.decimals)}, "
                f"needs {format_amount(units, info.decimals)}."
            )
        data = erc20(w3, info.address).functions.transfer(to, units)._encode_transaction_data()
        tx, fee = build_transaction(w3, sender, info.address, 0, data)
        symbol, decimals, needed_eth = info.symbol, info.decimals, fee.max_cost_wei
    else:
        units = parse_amount(amount, ETH_DECIMALS)
        if units == 0:
            raise InvalidInput("The amount must be more than zero.")
        tx, fee = build_transaction(w3, sender, to, units, b"", gas=None)
        symbol, decimals, needed_eth = "ETH", ETH_DECIMALS, units + fee.max_cost_wei
    held_eth = eth_balance(w3, sender)
    if held_eth < needed_eth:
        raise TransactionFailed(
            f"Insufficient funds: {sender} has {format_amount(held_eth)} ETH, needs up to "
            f"{format_amount(needed_eth)} ETH including the network fee."
        )
    return SendPreview(sender, to, units, symbol, decimals, info.address if token else None, tx, fee)


def send(w3: Web3, signer: LocalAccount, preview: SendPreview, expected_chain_id: int, *,
         store: Store | None = None, network: str = "") -> str:
    """Sign and send a previewed transfer; returns its hash (wait with wallet.tx.wait_for_receipt)."""
    if signer.address != preview.sender:
        raise InvalidInput(f"The preview is for {preview.sender}, not {signer.address}.")
    return sign_and_send(
        w3, signer, preview.tx, expected_chain_id, store=store, network=network,
        kind="token-transfer" if preview.token else "eth-transfer",
        description=f"{preview.amount_text} {preview.symbol} to {preview.to}",
    )
