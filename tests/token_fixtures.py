"""TestToken (resources/contracts/testing/TestToken.sol: any name, symbol and decimals, free
mint) deployed on a real node, for the tests of how the wallet shows a bounty's token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from wallet.tx import build_transaction, sign_and_send, wait_for_receipt

TEST_TOKEN_ARTIFACT = (Path(__file__).resolve().parent.parent / "resources" / "contracts" / "build"
                       / "testing" / "TestToken.json")


def deploy_test_token(w3: Web3, signer: Any, name: str, symbol: str, decimals: int) -> Contract:
    """Deploys a TestToken from an unlocked address (eth-tester) or a local signer (devnet)."""
    artifact = json.loads(TEST_TOKEN_ARTIFACT.read_text())
    constructor = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        name, symbol, decimals)
    if isinstance(signer, str):
        receipt = w3.eth.wait_for_transaction_receipt(constructor.transact({"from": signer}))
    else:
        data = constructor.build_transaction({"from": signer.address})["data"]
        tx, _ = build_transaction(w3, signer.address, None, 0, data)
        receipt = wait_for_receipt(w3, sign_and_send(w3, signer, tx, int(w3.eth.chain_id)))
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
