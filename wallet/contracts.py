"""Deployment of the compiled contracts, and revert messages people can read.

The artifacts themselves (ABI, bytecode) are read by `common.artifacts`, below the wallet and
the embedded network, which both deploy them.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from common.artifacts import CONTRACT_NAMES, contracts_dir, load_artifact, read_artifact
from common.errors import UserError
from wallet.errors import InvalidInput, QuarryError, TransactionFailed

# One line per custom error of BountyBoard, QuarryToken and the OpenZeppelin parts they use.
ERROR_MESSAGES: dict[str, str] = {
    # BountyBoard
    "NotOwner": "Only the bounty's owner may do this.",
    "RoundNotOpen": "The round is not open for submissions (its deadline has passed).",
    "AlreadySubmitted": "This address has already submitted to this round.",
    "DeadlineNotReached": "The round's deadline has not been reached yet.",
    "GracePeriodOver": "The grace period to finalise this round is over; anyone may now expire it.",
    "GracePeriodNotOver": "The round cannot be expired yet: its grace period is not over.",
    "NotASubmitter": "{0} did not submit to this round.",
    "NotABountySubmitter": "{0} did not submit to this bounty.",
    "DuplicateContributor": "{0} is listed more than once.",
    "DuplicateCredit": "{0} already has a leftover credit in this bounty.",
    "NotClosingRound": "Leftover credits are assigned in the bounty's closing round only.",
    "OverBudget": "The amounts add up to more than the round's reward.",
    "BadSignature": "The signature does not match the submission and contributor.",
    "SignatureExpired": "The signed submission has expired.",
    "NothingToClaim": "There is nothing to claim in this token.",
    "InvalidParameters": "The parameters are not valid for this bounty.",
    "BountyNotOpen": "The bounty is no longer open (completed or cancelled).",
    "RoundNotCurrent": "This round is not the bounty's current round.",
    "AlreadyClosed": "This round has already been closed.",
    "BountyNotFound": "There is no bounty with this id.",
    "NoSuchRound": "The bounty has no such round.",
    "RoundFull": "The round already has its maximum number of contributors.",
    "LengthMismatch": "The contributor and amount lists differ in length.",
    "UnsupportedToken": "The token is not a plain ERC-20 the board can hold in escrow.",
    "DuplicateBlob": "This exact update was already submitted to this round; copies are refused.",
    "NotExpired": "This round has not expired; there is no share to collect.",
    "AlreadyCollected": "This share has already been credited.",
    "BountyNotEnded": "The bounty has not ended yet (its last round is still open).",
    "AlreadyRevealed": "The validation set of this bounty has already been revealed.",
    # OpenZeppelin
    "OwnableUnauthorizedAccount": "{0} is not the owner of this contract.",
    "OwnableInvalidOwner": "{0} cannot be the owner.",
    "ERC20InsufficientBalance": "Insufficient token balance: {0} has {1}, needs {2}.",
    "ERC20InsufficientAllowance": "Insufficient token allowance: {0} may spend {1}, needs {2}.",
    "ERC20InvalidSender": "Tokens cannot be sent from {0}.",
    "ERC20InvalidReceiver": "Tokens cannot be sent to {0}.",
    "ERC20InvalidApprover": "{0} cannot approve a spender.",
    "ERC20InvalidSpender": "{0} cannot be approved as a spender.",
    "SafeERC20FailedOperation": "The token {0} refused the transfer.",
    "ReentrancyGuardReentrantCall": "The contract refused a re-entrant call.",
    "ECDSAInvalidSignature": "The signature is not valid.",
    "ECDSAInvalidSignatureLength": "The signature has the wrong length.",
    "ECDSAInvalidSignatureS": "The signature is malleable and was refused.",
    "StringTooLong": "A name is too long for the contract's signing domain.",
    "InvalidShortString": "The contract's signing domain name is malformed.",
}

# Solidity's built-in Panic(uint256) codes, in words.
_PANIC_MESSAGES = {
    0x01: "an internal assertion failed",
    0x11: "an arithmetic overflow or underflow",
    0x12: "a division by zero",
    0x21: "an invalid enum value",
    0x22: "a corrupt storage byte array",
    0x31: "a pop from an empty array",
    0x32: "an array index out of bounds",
    0x41: "an allocation too large",
    0x51: "a call to an invalid function",
}
_ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
_PANIC_SELECTOR = bytes.fromhex("4e487b71")
_HEX_DATA = re.compile(r"0x[0-9a-fA-F]{8,}")
_BYTES_LITERAL = re.compile(r"b('[^'\\]*(?:\\.[^'\\]*)*'|\"[^\"\\]*(?:\\.[^\"\\]*)*\")")


def deploy(w3: Any, signer_or_address: Any, name: str, *args: Any, timeout: float = 120,
           expected_chain_id: int | None = None) -> str:
    """Deploys contract ``name`` with constructor ``args``; returns its checksum address.

    ``signer_or_address`` is either an address the node has unlocked (eth-tester, anvil), sent
    with ``eth_sendTransaction``, or a local eth-account signer (``LocalAccount``), in which case
    an EIP-1559 transaction is signed here for the node's chain id and sent raw, refused when
    ``expected_chain_id`` is given and the node reports another one.
    """
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    constructor = factory.constructor(*args)
    try:
        if isinstance(signer_or_address, str):
            tx_hash = constructor.transact({"from": to_checksum_address(signer_or_address)})
        elif hasattr(signer_or_address, "sign_transaction") and hasattr(signer_or_address, "address"):
            sender = signer_or_address.address
            chain_id = int(w3.eth.chain_id)
            if expected_chain_id is not None and chain_id != expected_chain_id:
                raise TransactionFailed(
                    f"The node is on chain {chain_id}, not {expected_chain_id}; nothing was signed."
                )
            tx = constructor.build_transaction(
                {
                    "from": sender,
                    "nonce": w3.eth.get_transaction_count(sender, "pending"),
                    "chainId": chain_id,
                }
            )
            if "maxFeePerGas" not in tx:  # build_transaction fills 1559 fees on 1559 chains
                raise TransactionFailed("The node does not support EIP-1559 transactions.")
            tx.pop("gasPrice", None)
            signed = signer_or_address.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        else:
            raise InvalidInput("deploy needs a sender address or a local account to sign with.")
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except QuarryError:
        raise
    except Exception as exc:  # web3 and node errors: turn reverts into a readable line
        raise TransactionFailed(f"Deploying {name} failed: {decode_revert(exc)}") from exc
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise TransactionFailed(f"Deploying {name} failed: the transaction reverted.")
    return to_checksum_address(receipt["contractAddress"])


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """selector -> (error name, argument types) over all artifacts' ABI error entries."""
    return _error_table_in(contracts_dir())


@functools.lru_cache(maxsize=4)
def _error_table_in(directory: Path) -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for contract in CONTRACT_NAMES:
        try:
            entries = read_artifact(directory / f"{contract}.json")["abi"]
        except UserError:  # a missing artifact only means fewer errors to name
            continue
        for entry in entries:
            if entry.get("type") != "error":
                continue
            types = [_abi_type(item) for item in entry.get("inputs", [])]
            signature = f"{entry['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(signature)] = (entry["name"], types)
    return table


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in item["components"])
        return f"({inner}){item['type'][len('tuple'):]}"
    return item["type"]


def _exception_chain(error: BaseException) -> list[BaseException]:
    """The exception and what caused it (eth-tester re-raises with the raw bytes in the cause)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _data_from(candidate: Any) -> bytes | None:
    if isinstance(candidate, dict):
        candidate = candidate.get("data")
    if isinstance(candidate, bytes | bytearray) and len(candidate) >= 4:
        return bytes(candidate)
    if isinstance(candidate, str):
        found = _HEX_DATA.search(candidate)
        if found and len(found.group(0)) % 2 == 0:
            return bytes.fromhex(found.group(0)[2:])
        # eth-tester's provider formats raw revert bytes as "execution reverted: b'...'"
        literal = _BYTES_LITERAL.search(candidate)
        if literal:
            try:
                value = ast.literal_eval(literal.group(0))
            except (ValueError, SyntaxError):
                return None
            if isinstance(value, bytes) and len(value) >= 4:
                return value
    return None


def _revert_data(error: Any) -> bytes | None:
    """The raw revert data carried by a web3 / eth-tester exception, or by hex/bytes given."""
    if not isinstance(error, BaseException):
        return _data_from(error)
    for exc in _exception_chain(error):
        for candidate in [getattr(exc, "data", None), *exc.args]:
            data = _data_from(candidate)
            if data is not None:
                return data
    return None


def _format_value(value: Any) -> str:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def decode_revert(error: Any) -> str:
    """One clear line for a revert: a custom error (by the artifacts' ABIs), an
    ``Error(string)`` reason, a panic, or the exception's own message as a last resort.

    Accepts a web3 exception (``ContractCustomError``, ``ContractLogicError``, ...), an
    eth-tester ``TransactionFailed``, or the raw revert data as bytes or ``0x`` hex.
    """
    data = _revert_data(error)
    if data is not None and len(data) >= 4:
        selector, payload = data[:4], data[4:]
        if selector == _ERROR_STRING_SELECTOR:
            try:
                (reason,) = abi_decode(["string"], payload)
                return f"The contract rejected the transaction: {reason}"
            except Exception:  # malformed reason: fall through to the generic message
                pass
        elif selector == _PANIC_SELECTOR:
            try:
                (code,) = abi_decode(["uint256"], payload)
            except Exception:
                code = -1
            what = _PANIC_MESSAGES.get(code, f"panic code {code:#x}")
            return f"The contract stopped with {what}."
        elif selector in _error_table():
            name, types = _error_table()[selector]
            try:
                values = [_format_value(v) for v in abi_decode(types, payload)] if types else []
            except Exception:
                values = []
            template = ERROR_MESSAGES.get(name)
            if template is not None and len(values) >= template.count("{"):
                return template.format(*values)
            shown = f"{name}({', '.join(values)})"
            return f"The contract rejected the transaction with {shown}."
        else:
            return f"The contract rejected the transaction (unknown error 0x{selector.hex()})."
    if isinstance(error, str | bytes | bytearray):
        return "The transaction reverted."
    message = str(getattr(error, "message", None) or error).strip().splitlines()
    text = message[0] if message else ""
    return text if text else "The transaction reverted without a reason."


def revert_error_name(error: Any) -> str | None:
    """The name of the custom error in a revert (e.g. ``"OverBudget"``), or ``None``.

    For code that branches on the kind of failure rather than showing ``decode_revert``.
    """
    data = _revert_data(error)
    if data is None or len(data) < 4:
        return None
    if data[:4] == _ERROR_STRING_SELECTOR:
        return "Error"
    if data[:4] == _PANIC_SELECTOR:
        return "Panic"
    found = _error_table().get(data[:4])
    return found[0] if found else None
