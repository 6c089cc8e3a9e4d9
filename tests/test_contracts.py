"""QuarryToken and BountyBoard on py-evm (eth-tester): every function's success and reverts,
the EIP-712 gasless path, deadlines by time travel, adversarial tokens, and wallet.contracts."""

# The `market` fixture is imported from chain_fixtures, so test parameters "redefine" it.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from common import artifacts
from common.errors import ArtifactError
from tests.chain_fixtures import (
    GRACE_PERIOD,
    TOKEN_UNIT,
    _module_market,  # noqa: F401  (fixture used by `market`)
    deploy_test_contract,
    expect_revert,
    funded_signer,
    market,  # noqa: F401  (fixture)
    send,
    sign_submission,
)
from wallet import contracts, eip712
from wallet.errors import InvalidInput, TransactionFailed

REWARD = 100 * TOKEN_UNIT
ZERO = "0x" + "00" * 20
H = keccak  # blob, model and report hashes in tests


def events(contract, name, receipt):
    return [e["args"] for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]


def balance(market, account):
    return market.token.functions.balanceOf(account).call()


def claimable(market, account):
    return market.board.functions.claimable(market.token.address, account).call()


def finalize_call(market, bounty_id, round_, contributors, amounts, next_model=b"m1"):
    return market.board.functions.finalize(
        bounty_id, round_, contributors, amounts, H(next_model), f"file:///{next_model.hex()}",
        H(b"report"), "file:///report.json",
    )


def to_finalize_window(market, bounty_id, round_):
    market.chain.travel_to(market.deadline(bounty_id, round_))


def to_expiry(market, bounty_id, round_):
    market.chain.travel_to(market.deadline(bounty_id, round_) + GRACE_PERIOD)


# ------------------------------------------------------------------------------- QuarryToken


def test_token_metadata_and_owner(market):
    token = market.token.functions
    assert token.name().call() == "Quarry Data Token"
    assert token.symbol().call() == "QDT"
    assert token.decimals().call() == 18
    assert token.owner().call() == market.owner
    assert token.totalSupply().call() == 0


def test_owner_mints_and_others_cannot(market):
    alice = market.chain.accounts[3]
    receipt = send(market.token.functions.mint(alice, 5 * TOKEN_UNIT), market.owner)
    (transfer,) = events(market.token, "Transfer", receipt)
    assert (transfer["from"], transfer["to"], transfer["value"]) == (ZERO, alice, 5 * TOKEN_UNIT)
    assert balance(market, alice) == 5 * TOKEN_UNIT
    error = expect_revert("OwnableUnauthorizedAccount", market.token.functions.mint(alice, 1), alice)
    assert contracts.decode_revert(error) == f"{alice} is not the owner of this contract."
    assert market.token.functions.totalSupply().call() == 5 * TOKEN_UNIT


# ------------------------------------------------------------------------------- deployment


def test_board_constructor_and_eip712_domain(market):
    board = market.board.functions
    assert board.gracePeriod().call() == GRACE_PERIOD
    assert board.bountyCount().call() == 0
    fields, name, version, chain_id, verifying, _salt, _ext = board.eip712Domain().call()
    assert (name, version, chain_id, verifying) == (
        "QuarryBountyBoard", "1", market.w3.eth.chain_id, market.board.address,
    )
    domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
    # eth-account's own domain hash must equal the contract's (the signature commits to it)
    signable = encode_typed_data(domain, {"X": [{"name": "a", "type": "uint256"}]}, {"a": 1})
    assert board.DOMAIN_SEPARATOR().call() == signable.header
    assert board.SUBMISSION_TYPEHASH().call() == keccak(
        b"Submission(uint256 bountyId,uint32 round,bytes32 blobHash,string uri,"
        b"address contributor,uint256 deadline)"
    )


def test_board_rejects_zero_grace_period(market):
    with pytest.raises(TransactionFailed, match="parameters are not valid"):
        contracts.deploy(market.w3, market.owner, "BountyBoard", 0)


def test_deploy_with_local_signer_sends_eip1559(market):
    signer = funded_signer(market.chain, eth=1)
    address = contracts.deploy(market.w3, signer, "QuarryToken", signer.address)
    token = market.w3.eth.contract(address=address, abi=artifacts.abi("QuarryToken"))
    assert token.functions.owner().call() == signer.address
    deployed = market.w3.eth.get_code(address)
    assert deployed.hex() == artifacts.load_artifact("QuarryToken")["deployedBytecode"][2:]
    block = market.w3.eth.get_block("latest", full_transactions=True)
    (tx,) = block["transactions"]
    assert tx["type"] == 2 and tx["from"] == signer.address


def test_deploy_rejects_something_that_cannot_sign(market):
    with pytest.raises(InvalidInput):
        contracts.deploy(market.w3, 42, "QuarryToken", market.owner)


# ------------------------------------------------------------------------------- createBounty


def test_create_bounty_escrows_the_whole_reward(market):
    practitioner = market.chain.accounts[1]
    bounty_id, receipt = market.create_bounty(practitioner, reward=REWARD, rounds=3, duration=600)
    now = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert bounty_id == 1
    assert market.board.functions.bountyCount().call() == 1
    assert balance(market, market.board.address) == 3 * REWARD
    assert balance(market, practitioner) == 0
    owner, token, reward, rounds, duration, max_c, spec_hash, spec_uri, current, status, escrow = (
        market.board.functions.getBounty(1).call()
    )
    assert (owner, token, reward, rounds, duration, max_c) == (
        practitioner, market.token.address, REWARD, 3, 600, 5,
    )
    assert (spec_hash, spec_uri, current, status, escrow) == (
        H(b"spec"), "file:///spec.json", 0, 0, 3 * REWARD,
    )
    assert market.board.functions.getRound(1, 0).call() == [
        now + 600, 0, 1, H(b"model-0"), "file:///model-0.bin", b"\0" * 32, "",
    ]
    assert market.board.functions.getRound(1, 1).call()[2] == 0  # NotOpen
    (created,) = events(market.board, "BountyCreated", receipt)
    assert dict(created) == {
        "bountyId": 1, "owner": practitioner, "token": market.token.address,
        "rewardPerRound": REWARD, "rounds": 3, "specHash": H(b"spec"), "specURI": "file:///spec.json",
    }
    (opened,) = events(market.board, "RoundOpened", receipt)
    assert dict(opened) == {
        "bountyId": 1, "round": 0, "deadline": now + 600, "modelHash": H(b"model-0"),
        "modelURI": "file:///model-0.bin",
    }
    second_id, _ = market.create_bounty(practitioner)
    assert second_id == 2


MAX_UINT = 2**256 - 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reward", 0),
        ("rounds", 0),
        ("rounds", 10_001),
        ("duration", 0),
        ("duration", 3650 * 86400 + 1),
        ("max_contributors", 0),
        ("max_contributors", 10_001),
        ("spec_hash", b"\0" * 32),
        ("reward", MAX_UINT // 2 + 1),  # reward * 2 rounds overflows uint256
    ],
)
def test_create_bounty_rejects_invalid_parameters(market, field, value):
    practitioner = market.chain.accounts[1]
    params = {"reward": REWARD, "rounds": 2, "duration": 3600, "max_contributors": 5,
              "spec_hash": H(b"spec")}
    params[field] = value
    call = market.board.functions.createBounty(
        market.token.address, params["reward"], params["rounds"], params["duration"],
        params["max_contributors"], params["spec_hash"], "s", H(b"m"), "m",
    )
    error = expect_revert("InvalidParameters", call, practitioner)
    assert contracts.decode_revert(error) == "The parameters are not valid for this bounty."
    assert market.board.functions.bountyCount().call() == 0


def test_create_bounty_accepts_the_limits(market):
    practitioner = market.chain.accounts[1]
    market.mint(practitioner, 10_000)
    send(market.token.functions.approve(market.board.address, 10_000), practitioner)
    call = market.board.functions.createBounty(
        market.token.address, 1, 10_000, 3650 * 86400, 10_000, H(b"s"), "", b"\0" * 32, "",
    )
    send(call, practitioner)
    assert market.board.functions.getBounty(1).call()[10] == 10_000


@pytest.mark.parametrize("token", ["zero", "eoa"])
def test_create_bounty_rejects_a_token_without_code(market, token):
    address = ZERO if token == "zero" else market.chain.accounts[7]
    call = market.board.functions.createBounty(address, 1, 1, 60, 1, H(b"s"), "s", H(b"m"), "m")
    expect_revert("UnsupportedToken", call, market.chain.accounts[1])


def test_create_bounty_rejects_fee_on_transfer_token(market):
    practitioner = market.chain.accounts[1]
    fee_token = deploy_test_contract(market.chain, "FeeOnTransferToken")
    send(fee_token.functions.mint(practitioner, 1000), market.owner)
    send(fee_token.functions.approve(market.board.address, 1000), practitioner)
    call = market.board.functions.createBounty(fee_token.address, 500, 2, 60, 1, H(b"s"), "s", H(b"m"), "m")
    expect_revert("UnsupportedToken", call, practitioner)
    assert fee_token.functions.balanceOf(practitioner).call() == 1000


def test_create_bounty_needs_allowance_and_balance(market):
    practitioner = market.chain.accounts[1]
    call = market.board.functions.createBounty(market.token.address, 5, 2, 60, 1, H(b"s"), "s", H(b"m"), "m")
    expect_revert("ERC20InsufficientAllowance", call, practitioner)
    send(market.token.functions.approve(market.board.address, 10), practitioner)
    error = expect_revert("ERC20InsufficientBalance", call, practitioner)
    assert contracts.decode_revert(error) == (
        f"Insufficient token balance: {practitioner} has 0, needs 10."
    )


# ------------------------------------------------------------------------------- submit


def test_submit_records_the_submission(market):
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner)
    receipt = market.submit(bounty_id, 0, alice, b"alice")
    now = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    market.submit(bounty_id, 0, bob, b"bob")
    board = market.board.functions
    assert board.getSubmission(bounty_id, 0, alice).call() == [H(b"alice"), "file:///616c696365", now]
    assert board.getSubmission(bounty_id, 0, market.chain.accounts[5]).call() == [b"\0" * 32, "", 0]
    assert board.getSubmitters(bounty_id, 0).call() == [alice, bob]
    assert board.getRound(bounty_id, 0).call()[1] == 2
    (submitted,) = events(market.board, "UpdateSubmitted", receipt)
    assert dict(submitted) == {
        "bountyId": bounty_id, "round": 0, "contributor": alice, "blobHash": H(b"alice"),
        "uri": "file:///616c696365",
    }


def test_submit_reverts(market):
    practitioner, alice, bob, carol = market.chain.accounts[1:5]
    bounty_id, _ = market.create_bounty(practitioner, max_contributors=2)
    submit = market.board.functions.submit
    expect_revert("BountyNotFound", submit(0, 0, H(b"x"), "u"), alice)
    expect_revert("BountyNotFound", submit(9, 0, H(b"x"), "u"), alice)
    expect_revert("RoundNotCurrent", submit(bounty_id, 1, H(b"x"), "u"), alice)
    expect_revert("InvalidParameters", submit(bounty_id, 0, b"\0" * 32, "u"), alice)
    expect_revert("InvalidParameters", submit(bounty_id, 0, H(b"x"), ""), alice)
    market.submit(bounty_id, 0, alice, b"alice")
    error = expect_revert("AlreadySubmitted", submit(bounty_id, 0, H(b"y"), "u"), alice)
    assert contracts.decode_revert(error) == "This address has already submitted to this round."
    # a copy of alice's blob from another address is refused, whatever its URI
    error = expect_revert("DuplicateBlob", submit(bounty_id, 0, H(b"alice"), "elsewhere"), bob)
    assert contracts.decode_revert(error) == (
        "This exact update was already submitted to this round; copies are refused.")
    market.submit(bounty_id, 0, bob)
    expect_revert("RoundFull", submit(bounty_id, 0, H(b"z"), "u"), carol)
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [alice, bob]


def test_submit_closes_at_the_deadline(market):
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner)
    market.chain.travel_to(market.deadline(bounty_id, 0) - 1)
    market.submit(bounty_id, 0, alice)  # the last second still counts
    expect_revert("RoundNotOpen", market.board.functions.submit(bounty_id, 0, H(b"b"), "u"), bob)


# ------------------------------------------------------------------------------- gasless


def test_gasless_submission_by_a_key_without_eth(market):
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    bounty_id, _ = market.create_bounty(practitioner)
    newcomer = Account.create()
    assert market.w3.eth.get_balance(newcomer.address) == 0
    deadline = market.chain.next_timestamp() + 600
    uri = "http://127.0.0.1:8545/blobs/0x" + H(b"u").hex()
    signature = sign_submission(newcomer, market.board, bounty_id, 0, H(b"u"), uri, deadline)
    call = market.board.functions.submitWithSignature(
        bounty_id, 0, H(b"u"), uri, newcomer.address, deadline, signature
    )
    receipt = send(call, relayer)
    (submitted,) = events(market.board, "UpdateSubmitted", receipt)
    assert submitted["contributor"] == newcomer.address
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [newcomer.address]
    assert market.board.functions.getSubmission(bounty_id, 0, newcomer.address).call()[:2] == [H(b"u"), uri]
    assert market.w3.eth.get_balance(newcomer.address) == 0
    # a replay of the same signature is refused
    expect_revert("AlreadySubmitted", call, relayer)


def test_gasless_submission_reverts(market):
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    bounty_id, _ = market.create_bounty(practitioner)
    signer, other = Account.create(), Account.create()
    deadline = market.chain.next_timestamp() + 600
    good = sign_submission(signer, market.board, bounty_id, 0, H(b"u"), "u", deadline)

    def relay(uri="u", contributor=signer.address, sig_deadline=deadline, signature=good):
        return market.board.functions.submitWithSignature(
            bounty_id, 0, H(b"u"), uri, contributor, sig_deadline, signature
        )

    error = expect_revert("BadSignature", relay(uri="tampered"), relayer)
    assert contracts.decode_revert(error) == "The signature does not match the submission and contributor."
    expect_revert("BadSignature", relay(contributor=other.address), relayer)
    expect_revert("BadSignature", relay(sig_deadline=deadline + 1), relayer)
    expect_revert("BadSignature", relay(contributor=ZERO), relayer)
    expect_revert("BadSignature", relay(signature=b"\x01" * 10), relayer)
    by_other = sign_submission(other, market.board, bounty_id, 0, H(b"u"), "u", deadline)
    expect_revert("BadSignature", relay(signature=by_other), relayer)
    # a signature for another board (another verifyingContract) does not transfer
    other_board = market.w3.eth.contract(
        address=contracts.deploy(market.w3, market.owner, "BountyBoard", GRACE_PERIOD),
        abi=artifacts.abi("BountyBoard"),
    )
    foreign = sign_submission(signer, other_board, bounty_id, 0, H(b"u"), "u", deadline)
    expect_revert("BadSignature", relay(signature=foreign), relayer)

    expired = market.chain.next_timestamp() - 1
    old = sign_submission(signer, market.board, bounty_id, 0, H(b"u"), "u", expired)
    error = expect_revert("SignatureExpired", relay(sig_deadline=expired, signature=old), relayer)
    assert contracts.decode_revert(error) == "The signed submission has expired."
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == []


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_gasless_signature_binds_the_chain_and_refuses_malleable_twins(market):
    """The typed data's domain holds the chain id (a signature made for another chain does
    not verify), and the high-s twin of a valid signature, which ecrecover would accept for
    the same signer, is refused (OpenZeppelin's ECDSA), so no second valid form exists."""
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    bounty_id, _ = market.create_bounty(practitioner)
    signer = Account.create()
    deadline = market.chain.next_timestamp() + 600
    message = {"bountyId": bounty_id, "round": 0, "blobHash": H(b"u"), "uri": "u",
               "contributor": signer.address, "deadline": deadline}
    chain_id = market.w3.eth.chain_id

    def relay(signature):
        return market.board.functions.submitWithSignature(
            bounty_id, 0, H(b"u"), "u", signer.address, deadline, signature)

    def signed_for(chain):
        domain = eip712.domain(chain, market.board.address)
        return signer.sign_typed_data(domain, eip712.SUBMISSION_TYPES, message)

    expect_revert("BadSignature", relay(bytes(signed_for(chain_id + 1).signature)), relayer)
    good = signed_for(chain_id)
    twin_s = SECP256K1_N - good.s
    twin = good.r.to_bytes(32, "big") + twin_s.to_bytes(32, "big") + bytes([55 - good.v])  # 27 <-> 28
    assert Account._recover_hash(  # noqa: SLF001 (the raw recovery without the low-s rule)
        bytes(good.message_hash), vrs=(55 - good.v, good.r, twin_s)) == signer.address
    expect_revert("BadSignature", relay(twin), relayer)
    send(relay(bytes(good.signature)), relayer)
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [signer.address]


def test_gasless_submission_from_a_contract_wallet(market):
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    bounty_id, _ = market.create_bounty(practitioner)
    owner_key = Account.create()
    wallet = deploy_test_contract(market.chain, "ERC1271Wallet", owner_key.address)
    deadline = market.chain.next_timestamp() + 600
    # the wallet's owner signs the Submission naming the wallet as contributor
    signable = {
        "domain": {"name": "QuarryBountyBoard", "version": "1", "chainId": market.w3.eth.chain_id,
                   "verifyingContract": market.board.address},
        "message": {"bountyId": bounty_id, "round": 0, "blobHash": H(b"w"), "uri": "u",
                    "contributor": wallet.address, "deadline": deadline},
    }
    types = {"Submission": [
        {"name": "bountyId", "type": "uint256"}, {"name": "round", "type": "uint32"},
        {"name": "blobHash", "type": "bytes32"}, {"name": "uri", "type": "string"},
        {"name": "contributor", "type": "address"}, {"name": "deadline", "type": "uint256"},
    ]}
    signature = owner_key.sign_typed_data(signable["domain"], types, signable["message"]).signature
    send(market.board.functions.submitWithSignature(
        bounty_id, 0, H(b"w"), "u", wallet.address, deadline, signature), relayer)
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [wallet.address]


# ------------------------------------------------------------------------------- finalize


def test_finalize_pays_contributors_and_opens_the_next_round(market):
    practitioner, alice, bob, carol = market.chain.accounts[1:5]
    bounty_id, _ = market.create_bounty(practitioner, rounds=2, duration=600)
    for who in (alice, bob, carol):
        market.submit(bounty_id, 0, who, who.encode())
    to_finalize_window(market, bounty_id, 0)
    receipt = send(finalize_call(market, bounty_id, 0, [bob, alice, carol], [60, 30, 0]), practitioner)
    now = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert claimable(market, alice) == 30 and claimable(market, bob) == 60
    assert claimable(market, carol) == 0
    assert claimable(market, practitioner) == 0  # the unassigned rest is carried, not refunded
    assert market.board.functions.getPot(bounty_id).call() == [2 * REWARD - 90, 0, REWARD - 90, 0, 90, False]
    assigned = events(market.board, "RewardAssigned", receipt)
    assert [(e["contributor"], e["amount"]) for e in assigned] == [(bob, 60), (alice, 30), (carol, 0)]
    (finalized,) = events(market.board, "RoundFinalized", receipt)
    assert dict(finalized) == {
        "bountyId": bounty_id, "round": 0, "totalPaid": 90, "reportHash": H(b"report"),
        "reportURI": "file:///report.json",
    }
    (opened,) = events(market.board, "RoundOpened", receipt)
    assert (opened["round"], opened["deadline"], opened["modelHash"]) == (1, now + 600, H(b"m1"))
    assert market.board.functions.getRound(bounty_id, 0).call()[2:] == [
        2, H(b"model-0"), "file:///model-0.bin", H(b"report"), "file:///report.json",
    ]
    assert market.board.functions.getRound(bounty_id, 1).call() == [
        now + 600, 0, 1, H(b"m1"), "file:///6d31", b"\0" * 32, "",
    ]
    bounty = market.board.functions.getBounty(bounty_id).call()
    assert (bounty[8], bounty[9], bounty[10]) == (1, 0, 2 * REWARD - 90)
    assert balance(market, market.board.address) == 2 * REWARD  # nothing left the board yet


def test_finalize_with_no_contributors_returns_the_round_to_the_owner(market):
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    to_finalize_window(market, bounty_id, 0)
    receipt = send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    assert events(market.board, "RoundFinalized", receipt)[0]["totalPaid"] == 0
    assert claimable(market, practitioner) == REWARD
    bounty = market.board.functions.getBounty(bounty_id).call()
    assert (bounty[9], bounty[10]) == (1, 0)  # Completed, escrow empty
    assert events(market.board, "RoundOpened", receipt) == []


def test_last_round_completes_the_bounty(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=2)
    for round_ in (0, 1):
        market.submit(bounty_id, round_, alice, bytes([round_]))
        to_finalize_window(market, bounty_id, round_)
        send(finalize_call(market, bounty_id, round_, [alice], [REWARD]), practitioner)
    bounty = market.board.functions.getBounty(bounty_id).call()
    assert (bounty[8], bounty[9], bounty[10]) == (1, 1, 0)
    assert claimable(market, alice) == 2 * REWARD
    expect_revert("BountyNotOpen", market.board.functions.submit(bounty_id, 1, H(b"x"), "u"), alice)
    expect_revert("AlreadyClosed", finalize_call(market, bounty_id, 1, [], []), practitioner)
    expect_revert("AlreadyClosed", market.board.functions.expireRound(bounty_id, 1), alice)
    expect_revert("BountyNotOpen", market.board.functions.cancel(bounty_id), practitioner)


def test_finalize_reverts(market):
    practitioner, alice, bob, stranger = market.chain.accounts[1:5]
    bounty_id, _ = market.create_bounty(practitioner)
    market.submit(bounty_id, 0, alice)
    error = expect_revert("DeadlineNotReached", finalize_call(market, bounty_id, 0, [], []), practitioner)
    assert contracts.decode_revert(error) == "The round's deadline has not been reached yet."
    to_finalize_window(market, bounty_id, 0)
    expect_revert("NotOwner", finalize_call(market, bounty_id, 0, [], []), stranger)
    expect_revert("BountyNotFound", finalize_call(market, 7, 0, [], []), practitioner)
    expect_revert("RoundNotCurrent", finalize_call(market, bounty_id, 1, [], []), practitioner)
    error = expect_revert("NotASubmitter", finalize_call(market, bounty_id, 0, [bob], [1]), practitioner)
    assert contracts.decode_revert(error) == f"{bob} did not submit to this round."
    error = expect_revert(
        "DuplicateContributor", finalize_call(market, bounty_id, 0, [alice, alice], [1, 1]), practitioner
    )
    assert contracts.decode_revert(error) == f"{alice} is listed more than once."
    expect_revert("OverBudget", finalize_call(market, bounty_id, 0, [alice], [REWARD + 1]), practitioner)
    expect_revert("OverBudget", finalize_call(market, bounty_id, 0, [alice], [MAX_UINT]), practitioner)
    expect_revert("LengthMismatch", finalize_call(market, bounty_id, 0, [alice], []), practitioner)
    send(finalize_call(market, bounty_id, 0, [alice], [REWARD]), practitioner)
    expect_revert("AlreadyClosed", finalize_call(market, bounty_id, 0, [], []), practitioner)


def test_finalize_window_ends_with_the_grace_period(market):
    practitioner = market.chain.accounts[1]
    first, _ = market.create_bounty(practitioner)
    second, _ = market.create_bounty(practitioner)
    market.chain.travel_to(market.deadline(first, 0) + GRACE_PERIOD - 1)
    send(finalize_call(market, first, 0, [], []), practitioner)  # last second of the window
    market.chain.travel_to(market.deadline(second, 0) + GRACE_PERIOD)
    error = expect_revert("GracePeriodOver", finalize_call(market, second, 0, [], []), practitioner)
    assert "anyone may now expire it" in contracts.decode_revert(error)


# ------------------------------------------------------------------------------- withholding


def pot(market, bounty_id):
    """getPot as a dict."""
    names = ("pot", "assigned", "carry", "leftover", "totalPaid", "ended")
    return dict(zip(names, market.board.functions.getPot(bounty_id).call(), strict=True))


@pytest.mark.parametrize("payout", ["zeros", "partial", "nothing"])
def test_withheld_reward_is_carried_never_returned(market, payout):
    """A practitioner who pays zeros, part of the round or nobody at all gains nothing: the rest
    joins the next round's pot and, after the last round, goes to those the bounty paid."""
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=2)
    market.submit(bounty_id, 0, alice)
    market.submit(bounty_id, 0, bob)
    contributors, amounts = {"zeros": ([alice, bob], [0, 0]), "partial": ([alice, bob], [30, 10]),
                             "nothing": ([], [])}[payout]
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, contributors, amounts), practitioner)
    paid = sum(amounts)
    assert claimable(market, practitioner) == 0
    assert pot(market, bounty_id) == {"pot": 200 - paid, "assigned": 0, "carry": 100 - paid,
                                      "leftover": 0, "totalPaid": paid, "ended": False}
    # round 1: the whole pot (its reward + the carry) may be assigned, not one unit more
    market.submit(bounty_id, 1, alice, b"a1")
    to_finalize_window(market, bounty_id, 1)
    expect_revert("OverBudget", finalize_call(market, bounty_id, 1, [alice], [201 - paid]), practitioner)
    send(finalize_call(market, bounty_id, 1, [alice], [150 - paid]), practitioner)
    assert pot(market, bounty_id) == {"pot": 0, "assigned": 0, "carry": 0, "leftover": 50,
                                      "totalPaid": 150, "ended": True}
    assert claimable(market, practitioner) == 0
    # the leftover, pro rata to what each was paid in the bounty
    shares = {who: market.board.functions.leftoverShare(bounty_id, who).call() for who in (alice, bob)}
    alice_paid = 150 - paid + (amounts[0] if amounts else 0)
    assert shares == {alice: 50 * alice_paid // 150, bob: 50 * (paid - alice_paid + 150 - paid) // 150}
    assert market.board.functions.getShare(bounty_id, alice).call() == [alice_paid, 2, 0]
    for who in (alice, bob):
        if shares[who]:
            receipt = send(market.board.functions.claimLeftover(bounty_id, who), practitioner)
            (claimed,) = events(market.board, "LeftoverClaimed", receipt)
            assert dict(claimed) == {"bountyId": bounty_id, "account": who, "amount": shares[who]}
            expect_revert("AlreadyCollected", market.board.functions.claimLeftover(bounty_id, who), who)
            assert market.board.functions.getShare(bounty_id, who).call()[2] == shares[who]
    assert claimable(market, alice) + claimable(market, bob) == 200 - (50 - sum(shares.values()))
    expect_revert("NothingToClaim", market.board.functions.claimLeftover(bounty_id, practitioner), practitioner)
    assert balance(market, market.board.address) == market.board.functions.getBounty(bounty_id).call()[10] + sum(
        claimable(market, who) for who in (alice, bob))


def test_finalize_refuses_to_pay_a_non_submitter(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    market.submit(bounty_id, 0, alice)
    to_finalize_window(market, bounty_id, 0)
    for outsider in (practitioner, market.chain.accounts[7]):
        error = expect_revert("NotASubmitter", finalize_call(market, bounty_id, 0, [outsider], [1]), practitioner)
        assert contracts.decode_revert(error) == f"{outsider} did not submit to this round."
        expect_revert("NotASubmitter", market.board.functions.assignRewards(bounty_id, 0, [outsider], [1]),
                      practitioner)


def test_payout_in_batches(market):
    practitioner, alice, bob, carol, stranger = market.chain.accounts[1:6]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=2)
    for who in (alice, bob, carol):
        market.submit(bounty_id, 0, who)
    assign = market.board.functions.assignRewards
    expect_revert("DeadlineNotReached", assign(bounty_id, 0, [alice], [1]), practitioner)
    to_finalize_window(market, bounty_id, 0)
    expect_revert("NotOwner", assign(bounty_id, 0, [alice], [1]), stranger)
    expect_revert("LengthMismatch", assign(bounty_id, 0, [alice], []), practitioner)
    receipt = send(assign(bounty_id, 0, [alice], [50]), practitioner)
    assert [(e["contributor"], e["amount"]) for e in events(market.board, "RewardAssigned", receipt)] == [(alice, 50)]
    assert claimable(market, alice) == 50
    assert pot(market, bounty_id)["assigned"] == 50
    expect_revert("DuplicateContributor", assign(bounty_id, 0, [alice], [0]), practitioner)
    expect_revert("OverBudget", assign(bounty_id, 0, [bob], [51]), practitioner)
    send(assign(bounty_id, 0, [], []), practitioner)
    # finalize's lists are the last batch; the round's total counts every batch
    expect_revert("DuplicateContributor", finalize_call(market, bounty_id, 0, [alice], [0]), practitioner)
    expect_revert("OverBudget", finalize_call(market, bounty_id, 0, [bob, carol], [30, 21]), practitioner)
    receipt = send(finalize_call(market, bounty_id, 0, [bob, carol], [30, 15]), practitioner)
    assert events(market.board, "RoundFinalized", receipt)[0]["totalPaid"] == 95
    assert pot(market, bounty_id) == {"pot": 105, "assigned": 0, "carry": 5, "leftover": 0,
                                      "totalPaid": 95, "ended": False}
    expect_revert("AlreadyClosed", assign(bounty_id, 0, [], []), practitioner)


def test_batches_then_expiry_share_only_the_rest(market):
    """A practitioner who assigns a batch and then lets the window pass: expiry splits what
    the pot has left equally among all submitters."""
    practitioner, alice, bob, stranger = market.chain.accounts[1:5]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=1)
    market.submit(bounty_id, 0, alice)
    market.submit(bounty_id, 0, bob)
    to_finalize_window(market, bounty_id, 0)
    send(market.board.functions.assignRewards(bounty_id, 0, [alice], [40]), practitioner)
    to_expiry(market, bounty_id, 0)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), stranger)
    assert events(market.board, "RoundExpired", receipt)[0]["perSubmitter"] == 30
    for who in (alice, bob):
        send(market.board.functions.collectExpired(bounty_id, 0, who), stranger)
    assert (claimable(market, alice), claimable(market, bob), claimable(market, practitioner)) == (70, 30, 0)


def test_duplicate_blob_is_refused_across_paths_but_not_across_rounds(market):
    practitioner, alice, relayer = market.chain.accounts[1], market.chain.accounts[2], market.chain.accounts[6]
    bounty_id, _ = market.create_bounty(practitioner, rounds=2)
    market.submit(bounty_id, 0, alice, b"honest")
    copier = Account.create()
    deadline = market.chain.next_timestamp() + 600
    signature = sign_submission(copier, market.board, bounty_id, 0, H(b"honest"), "copy", deadline)
    call = market.board.functions.submitWithSignature(
        bounty_id, 0, H(b"honest"), "copy", copier.address, deadline, signature)
    expect_revert("DuplicateBlob", call, relayer)
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [alice]
    other, _ = market.create_bounty(practitioner, rounds=1)
    market.submit(other, 0, relayer, b"honest")  # another bounty's round is another set
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [alice], [1]), practitioner)
    market.submit(bounty_id, 1, alice, b"honest")  # and so is the next round


def test_leftover_by_rounds_submitted_when_nobody_was_paid(market):
    practitioner, alice, bob, stranger = market.chain.accounts[1:5]
    bounty_id, _ = market.create_bounty(practitioner, reward=90, rounds=2)
    market.submit(bounty_id, 0, alice)
    market.submit(bounty_id, 0, bob)
    expect_revert("BountyNotEnded", market.board.functions.claimLeftover(bounty_id, alice), alice)
    assert market.board.functions.leftoverShare(bounty_id, alice).call() == 0
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [alice, bob], [0, 0]), practitioner)
    market.submit(bounty_id, 1, alice, b"again")
    to_finalize_window(market, bounty_id, 1)
    send(finalize_call(market, bounty_id, 1, [], []), practitioner)
    assert pot(market, bounty_id)["leftover"] == 180
    # alice submitted to 2 of the bounty's 3 submissions, bob to 1
    assert [market.board.functions.leftoverShare(bounty_id, who).call() for who in (alice, bob, stranger)] == [
        120, 60, 0]
    send(market.board.functions.claimLeftover(bounty_id, bob), stranger)
    send(market.board.functions.claimLeftover(bounty_id, alice), stranger)
    assert (claimable(market, alice), claimable(market, bob), claimable(market, practitioner)) == (120, 60, 0)
    assert market.board.functions.getBounty(bounty_id).call()[10] == 0


def test_the_leftover_follows_the_credits_of_the_closing_round(market):
    """The practitioner records the leftover's credits once, in the bounty's closing round
    (each account's value pooled over the bounty, at its lower bound): the leftover then goes
    by them, not by pay (which scaled up whoever one round could tell from zero) nor equally
    per submission (which paid a copy or junk as much as the best update). Only the owner,
    in the closing round's finalise window, for accounts that submitted to the bounty (in
    any round), once each, each at most the bounty's whole reward."""
    practitioner, alice, bob, junk, stranger = market.chain.accounts[1:6]
    bounty_id, _ = market.create_bounty(practitioner, reward=90, rounds=2)
    for who in (alice, bob, junk):
        market.submit(bounty_id, 0, who, who.encode())
    credits = market.board.functions.assignCredits
    to_finalize_window(market, bounty_id, 0)
    expect_revert("NotClosingRound", credits(bounty_id, 0, [alice], [30]), practitioner)
    send(finalize_call(market, bounty_id, 0, [alice], [30]), practitioner)  # alice paid 30
    market.submit(bounty_id, 1, alice, b"again")
    market.submit(bounty_id, 1, junk, b"junk again")
    expect_revert("DeadlineNotReached", credits(bounty_id, 1, [alice], [30]), practitioner)
    to_finalize_window(market, bounty_id, 1)
    expect_revert("NotOwner", credits(bounty_id, 1, [alice], [30]), alice)
    expect_revert("NotABountySubmitter", credits(bounty_id, 1, [stranger], [30]), practitioner)
    expect_revert("OverBudget", credits(bounty_id, 1, [alice], [181]), practitioner)
    expect_revert("LengthMismatch", credits(bounty_id, 1, [alice, bob], [30]), practitioner)
    # bob submitted in round 0 only: still the bounty's submitter
    receipt = send(credits(bounty_id, 1, [alice, bob], [60, 20]), practitioner)
    assert [(e["round"], e["credit"]) for e in events(market.board, "CreditAssigned", receipt)] == [(1, 60), (1, 20)]
    expect_revert("DuplicateCredit", credits(bounty_id, 1, [bob], [20]), practitioner)
    send(finalize_call(market, bounty_id, 1, [], []), practitioner)
    expect_revert("AlreadyClosed", credits(bounty_id, 1, [junk], [1]), practitioner)
    assert pot(market, bounty_id)["leftover"] == 150
    assert market.board.functions.getCredit(bounty_id, alice).call() == [60, 80]
    # alice 60 of 80 credits, bob 20 (by pay alice would take all 150), junk none
    assert [market.board.functions.leftoverShare(bounty_id, who).call() for who in (alice, bob, junk)] == [
        112, 37, 0]
    expect_revert("NothingToClaim", market.board.functions.claimLeftover(bounty_id, junk), stranger)
    for who in (alice, bob):
        send(market.board.functions.claimLeftover(bounty_id, who), stranger)
    assert (claimable(market, alice), claimable(market, bob), claimable(market, practitioner)) == (142, 37, 0)
    # the floor of each share stays on the board, in no one's hands but the escrow's
    assert market.board.functions.getBounty(bounty_id).call()[10] == 1


def test_without_credits_the_leftover_is_shared_by_pay(market):
    """A closing round the practitioner never finalised with credits (it expired, or an
    older practitioner): the leftover goes by pay, as before."""
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=2)
    market.submit(bounty_id, 0, alice)
    market.submit(bounty_id, 0, bob)
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [bob], [30]), practitioner)
    market.submit(bounty_id, 1, alice, b"again")
    to_finalize_window(market, bounty_id, 1)
    send(finalize_call(market, bounty_id, 1, [alice], [10]), practitioner)
    assert pot(market, bounty_id)["leftover"] == 160
    assert [market.board.functions.leftoverShare(bounty_id, who).call() for who in (alice, bob)] == [40, 120]


def test_a_cancelled_bountys_current_round_is_its_closing_round(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=3)
    market.submit(bounty_id, 0, alice)
    send(market.board.functions.cancel(bounty_id), practitioner)
    to_finalize_window(market, bounty_id, 0)
    send(market.board.functions.assignCredits(bounty_id, 0, [alice], [5]), practitioner)
    send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    assert market.board.functions.getCredit(bounty_id, alice).call() == [5, 5]
    assert market.board.functions.leftoverShare(bounty_id, alice).call() == pot(market, bounty_id)["leftover"] > 0


def test_a_round_nobody_submitted_to_returns_only_its_own_reward(market):
    practitioner, alice, stranger = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=3)
    market.submit(bounty_id, 0, alice)
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [alice], [60]), practitioner)
    to_expiry(market, bounty_id, 1)  # round 1: nobody submitted, expired
    send(market.board.functions.expireRound(bounty_id, 1), stranger)
    assert claimable(market, practitioner) == 100
    assert pot(market, bounty_id)["carry"] == 40  # the carry stays with the contributors
    to_finalize_window(market, bounty_id, 2)
    send(finalize_call(market, bounty_id, 2, [], []), practitioner)
    assert claimable(market, practitioner) == 200
    assert pot(market, bounty_id)["leftover"] == 40
    send(market.board.functions.claimLeftover(bounty_id, alice), alice)
    assert claimable(market, alice) == 100


def test_reveal_validation_only_by_the_owner_at_the_end(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    reveal = market.board.functions.revealValidation
    error = expect_revert("BountyNotEnded", reveal(bounty_id, H(b"v"), "file:///v"), practitioner)
    assert contracts.decode_revert(error) == "The bounty has not ended yet (its last round is still open)."
    send(market.board.functions.cancel(bounty_id), practitioner)
    expect_revert("BountyNotEnded", reveal(bounty_id, H(b"v"), "file:///v"), practitioner)  # round 0 open
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    expect_revert("NotOwner", reveal(bounty_id, H(b"v"), "file:///v"), alice)
    expect_revert("InvalidParameters", reveal(bounty_id, b"\0" * 32, "file:///v"), practitioner)
    expect_revert("InvalidParameters", reveal(bounty_id, H(b"v"), ""), practitioner)
    assert market.board.functions.getReveal(bounty_id).call() == [b"\0" * 32, ""]
    receipt = send(reveal(bounty_id, H(b"v"), "file:///v"), practitioner)
    (revealed,) = events(market.board, "ValidationRevealed", receipt)
    assert dict(revealed) == {"bountyId": bounty_id, "dataHash": H(b"v"), "uri": "file:///v"}
    assert market.board.functions.getReveal(bounty_id).call() == [H(b"v"), "file:///v"]
    error = expect_revert("AlreadyRevealed", reveal(bounty_id, H(b"w"), "file:///w"), practitioner)
    assert "already been revealed" in contracts.decode_revert(error)


# ------------------------------------------------------------------------------- expireRound


def test_expire_splits_the_pot_equally_with_dust_carried(market):
    practitioner, alice, bob, carol, stranger = market.chain.accounts[1:6]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=2)
    for who in (alice, bob, carol):
        market.submit(bounty_id, 0, who, who.encode())
    market.chain.travel_to(market.deadline(bounty_id, 0) + GRACE_PERIOD - 1)
    error = expect_revert("GracePeriodNotOver", market.board.functions.expireRound(bounty_id, 0), stranger)
    assert contracts.decode_revert(error) == "The round cannot be expired yet: its grace period is not over."
    error = expect_revert("NotExpired", market.board.functions.collectExpired(bounty_id, 0, alice), stranger)
    assert contracts.decode_revert(error) == "This round has not expired; there is no share to collect."
    market.chain.advance(1)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), stranger)
    # no loop over submitters: each share waits in escrow until collected
    assert events(market.board, "RewardAssigned", receipt) == []
    assert [claimable(market, who) for who in (alice, bob, carol, practitioner)] == [0, 0, 0, 0]
    assert [market.board.functions.expiredShare(bounty_id, 0, who).call() for who in (alice, stranger)] == [33, 0]
    (expired,) = events(market.board, "RoundExpired", receipt)
    assert dict(expired) == {"bountyId": bounty_id, "round": 0, "perSubmitter": 33}
    pot, assigned, carry, *_ = market.board.functions.getPot(bounty_id).call()
    assert (pot, assigned, carry) == (101, 0, 1)  # the dust joins the next round's pot
    for who in (alice, bob, carol):  # anyone may collect for anyone, once
        collected = send(market.board.functions.collectExpired(bounty_id, 0, who), stranger)
        assert [(e["contributor"], e["amount"]) for e in events(market.board, "RewardAssigned", collected)] == [
            (who, 33)]
    assert [claimable(market, who) for who in (alice, bob, carol)] == [33, 33, 33]
    error = expect_revert("AlreadyCollected", market.board.functions.collectExpired(bounty_id, 0, alice), bob)
    assert contracts.decode_revert(error) == "This share has already been credited."
    expect_revert("NotASubmitter", market.board.functions.collectExpired(bounty_id, 0, stranger), stranger)
    assert market.board.functions.expiredShare(bounty_id, 0, alice).call() == 0
    assert claimable(market, practitioner) == 0 and claimable(market, stranger) == 0
    # the next round trains from the same model
    (opened,) = events(market.board, "RoundOpened", receipt)
    assert (opened["round"], opened["modelHash"], opened["modelURI"]) == (
        1, H(b"model-0"), "file:///model-0.bin",
    )
    assert market.board.functions.getRound(bounty_id, 0).call()[2] == 3  # Expired
    assert market.board.functions.getBounty(bounty_id).call()[10] == 101
    expect_revert("AlreadyClosed", market.board.functions.expireRound(bounty_id, 0), stranger)
    expect_revert("AlreadyClosed", finalize_call(market, bounty_id, 0, [], []), practitioner)
    expect_revert("RoundNotCurrent", market.board.functions.expireRound(bounty_id, 5), stranger)


def test_expire_with_no_submitters_returns_everything_to_the_owner(market):
    practitioner, stranger = market.chain.accounts[1], market.chain.accounts[5]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    to_expiry(market, bounty_id, 0)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), stranger)
    assert events(market.board, "RoundExpired", receipt)[0]["perSubmitter"] == 0
    assert claimable(market, practitioner) == REWARD
    assert market.board.functions.getBounty(bounty_id).call()[9:] == [1, 0]  # Completed, empty


# ------------------------------------------------------------------------------- cancel


def test_cancel_refunds_only_rounds_not_yet_opened(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    receipt = send(market.board.functions.cancel(bounty_id), practitioner)
    (cancelled,) = events(market.board, "BountyCancelled", receipt)
    assert dict(cancelled) == {"bountyId": bounty_id, "refunded": 2 * REWARD}
    assert claimable(market, practitioner) == 2 * REWARD
    assert market.board.functions.getBounty(bounty_id).call()[9:] == [2, REWARD]
    assert [market.board.functions.getRound(bounty_id, r).call()[2] for r in range(3)] == [1, 4, 4]
    expect_revert("BountyNotOpen", market.board.functions.cancel(bounty_id), practitioner)
    expect_revert("RoundNotCurrent", market.board.functions.submit(bounty_id, 1, H(b"x"), "u"), alice)
    # nobody submitted to the current round: it returns to the owner when it closes
    to_finalize_window(market, bounty_id, 0)
    expect_revert("RoundNotOpen", market.board.functions.submit(bounty_id, 0, H(b"x"), "u"), alice)
    receipt = send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    assert claimable(market, practitioner) == 3 * REWARD
    (ended,) = events(market.board, "BountyEnded", receipt)
    assert dict(ended) == {"bountyId": bounty_id, "leftover": 0}
    assert market.board.functions.getBounty(bounty_id).call()[8:] == [0, 2, 0]
    expect_revert("BountyNotOpen", market.board.functions.submit(bounty_id, 0, H(b"x"), "u"), alice)
    expect_revert("AlreadyClosed", finalize_call(market, bounty_id, 0, [], []), practitioner)


def test_cancel_cannot_race_a_first_submission(market):
    """The owner sees an upload coming and cancels first: the current round stays open until
    its deadline, the submission still lands, and its reward is never refunded."""
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    receipt = send(market.board.functions.cancel(bounty_id), practitioner)
    assert events(market.board, "BountyCancelled", receipt)[0]["refunded"] == 2 * REWARD
    market.submit(bounty_id, 0, alice)  # after the cancel
    market.submit(bounty_id, 0, bob)
    assert market.board.functions.getSubmitters(bounty_id, 0).call() == [alice, bob]
    assert market.board.functions.getBounty(bounty_id).call()[9:] == [2, REWARD]
    assert market.board.functions.getRound(bounty_id, 0).call()[2] == 1  # still open
    assert market.board.functions.getRound(bounty_id, 1).call()[2] == 4
    # the owner pays nothing: the whole round stays with the submitters, as the leftover
    to_finalize_window(market, bounty_id, 0)
    receipt = send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    assert events(market.board, "RoundOpened", receipt) == []
    assert events(market.board, "BountyEnded", receipt)[0]["leftover"] == REWARD
    assert claimable(market, practitioner) == 2 * REWARD
    # nobody was paid by finalisation: shared by rounds submitted to
    assert market.board.functions.leftoverShare(bounty_id, alice).call() == REWARD // 2
    send(market.board.functions.claimLeftover(bounty_id, alice), practitioner)
    send(market.board.functions.claimLeftover(bounty_id, bob), bob)
    assert claimable(market, alice) == claimable(market, bob) == REWARD // 2
    bounty = market.board.functions.getBounty(bounty_id).call()
    assert (bounty[8], bounty[9], bounty[10]) == (0, 2, 0)


def test_cancel_then_expire_pays_the_submitters(market):
    practitioner, alice, stranger = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, rounds=2)
    market.submit(bounty_id, 0, alice)
    send(market.board.functions.cancel(bounty_id), practitioner)
    to_expiry(market, bounty_id, 0)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), stranger)
    assert events(market.board, "RoundOpened", receipt) == []
    send(market.board.functions.collectExpired(bounty_id, 0, alice), stranger)
    assert claimable(market, alice) == REWARD
    assert claimable(market, practitioner) == REWARD  # round 1, never opened
    assert market.board.functions.getPot(bounty_id).call() == [0, 0, 0, 0, 0, True]


def test_cancel_in_a_later_round_then_finalize(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [], []), practitioner)  # nobody submitted: refunded
    market.submit(bounty_id, 1, alice)
    send(market.board.functions.cancel(bounty_id), practitioner)
    assert claimable(market, practitioner) == 2 * REWARD  # round 0 unsubmitted + round 2 withdrawn
    to_finalize_window(market, bounty_id, 1)
    send(finalize_call(market, bounty_id, 1, [alice], [40]), practitioner)
    assert claimable(market, alice) == 40
    assert claimable(market, practitioner) == 2 * REWARD  # the unpaid rest is not the owner's
    assert market.board.functions.getPot(bounty_id).call() == [0, 0, 0, REWARD - 40, 40, True]
    send(market.board.functions.claimLeftover(bounty_id, alice), alice)
    assert claimable(market, alice) == REWARD
    assert market.board.functions.getBounty(bounty_id).call()[8:] == [1, 2, 0]
    assert market.board.functions.getRound(bounty_id, 2).call()[2] == 4


def test_cancel_reverts(market):
    practitioner, stranger = market.chain.accounts[1], market.chain.accounts[5]
    bounty_id, _ = market.create_bounty(practitioner)
    error = expect_revert("NotOwner", market.board.functions.cancel(bounty_id), stranger)
    assert contracts.decode_revert(error) == "Only the bounty's owner may do this."
    expect_revert("BountyNotFound", market.board.functions.cancel(42), practitioner)


# ------------------------------------------------------------------------------- claim


def test_claim_pays_once(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    market.submit(bounty_id, 0, alice)
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [alice], [70 * TOKEN_UNIT]), practitioner)
    claim = market.board.functions.claim(market.token.address)
    assert claim.call({"from": alice}) == 70 * TOKEN_UNIT
    receipt = send(claim, alice)
    (claimed,) = events(market.board, "RewardClaimed", receipt)
    assert dict(claimed) == {"account": alice, "token": market.token.address, "amount": 70 * TOKEN_UNIT}
    assert balance(market, alice) == 70 * TOKEN_UNIT
    assert claimable(market, alice) == 0
    error = expect_revert("NothingToClaim", claim, alice)
    assert contracts.decode_revert(error) == "There is nothing to claim in this token."
    expect_revert("NothingToClaim", claim, practitioner)  # the unpaid 30 are not the owner's
    send(market.board.functions.claimLeftover(bounty_id, alice), alice)
    send(claim, alice)
    assert balance(market, alice) == REWARD
    assert balance(market, market.board.address) == 0


def test_reentrant_token_cannot_claim_twice(market):
    practitioner = market.chain.accounts[1]
    evil = deploy_test_contract(market.chain, "ReentrantToken")
    send(evil.functions.mint(practitioner, 300), market.owner)
    send(evil.functions.approve(market.board.address, 300), practitioner)
    send(market.board.functions.createBounty(evil.address, 100, 3, 60, 1, H(b"s"), "s", H(b"m"), "m"),
         practitioner)
    send(market.board.functions.cancel(1), practitioner)  # rounds 1 and 2 refunded: 200
    claim = market.board.functions.claim(evil.address)
    # the token calls claim again from inside the board's transfer: the guard stops it
    send(evil.functions.arm(market.board.address, claim.build_transaction({"gas": 0})["data"]), practitioner)
    expect_revert("ReentrancyGuardReentrantCall", claim, practitioner)
    assert evil.functions.balanceOf(market.board.address).call() == 300
    send(evil.functions.arm(ZERO, b""), practitioner)
    send(claim, practitioner)
    assert evil.functions.balanceOf(practitioner).call() == 200


# ------------------------------------------------------------------------------- views


def test_views_reject_unknown_bounties_and_rounds(market):
    board = market.board.functions
    for call in (board.getBounty(1), board.getRound(1, 0), board.getSubmitters(1, 0),
                 board.getSubmission(1, 0, ZERO), board.getPot(1), board.getReveal(1),
                 board.expiredShare(1, 0, ZERO), board.leftoverShare(1, ZERO), board.getShare(1, ZERO)):
        with pytest.raises(Exception) as info:
            call.call()
        assert contracts.revert_error_name(info.value) == "BountyNotFound"
    market.create_bounty(market.chain.accounts[1], rounds=2)
    with pytest.raises(Exception) as info:
        board.getRound(1, 2).call()
    assert contracts.decode_revert(info.value) == "The bounty has no such round."


# ------------------------------------------------------------------------------- gas


def test_gas_costs_stay_within_budget(market, record_property):
    practitioner, *contributors = market.chain.accounts[1:6]
    bounty_id, created = market.create_bounty(practitioner, rounds=3, max_contributors=10)
    uri = "http://127.0.0.1:8765/blobs/0x" + "ab" * 32
    submits = [
        send(market.board.functions.submit(bounty_id, 0, H(who.encode()), uri), who)["gasUsed"]
        for who in contributors
    ]
    to_finalize_window(market, bounty_id, 0)
    finalized = send(
        finalize_call(market, bounty_id, 0, contributors, [10, 20, 30, 40]), practitioner
    )["gasUsed"]
    figures = {"createBounty": created["gasUsed"], "submit": max(submits), "finalize_4": finalized}
    for name, gas in figures.items():
        record_property(name, gas)
    print("gas:", figures)
    assert figures["createBounty"] < 350_000
    # a 100-byte URI in storage is most of it; the round's set of blob hashes (copies refused)
    # and the account's round count (its leftover share) add two fresh slots
    assert figures["submit"] < 300_000
    assert figures["finalize_4"] < 550_000  # per contributor: claimable + paid-in-bounty slots


# ------------------------------------------------------------------------------- wallet.contracts


def test_load_artifact_is_a_cached_copy():
    first = artifacts.load_artifact("BountyBoard")
    assert first["contractName"] == "BountyBoard"
    assert first["bytecode"].startswith("0x") and len(first["bytecode"]) > 1000
    assert first["solcVersion"].startswith("0.8.28+")
    first["abi"].clear()
    assert artifacts.abi("BountyBoard"), "mutating a returned artifact must not touch the cache"
    names = {e["name"] for e in artifacts.abi("BountyBoard") if e["type"] == "error"}
    assert {"NotOwner", "RoundNotOpen", "AlreadySubmitted", "DeadlineNotReached", "GracePeriodOver",
            "GracePeriodNotOver", "NotASubmitter", "DuplicateContributor", "OverBudget",
            "BadSignature", "SignatureExpired", "NothingToClaim", "InvalidParameters",
            "BountyNotOpen", "RoundNotCurrent", "AlreadyClosed", "DuplicateBlob", "NotExpired",
            "AlreadyCollected", "BountyNotEnded", "AlreadyRevealed"} <= names
    assert names <= set(contracts.ERROR_MESSAGES), "every custom error has a message"


def test_load_artifact_errors(tmp_path, monkeypatch):
    with pytest.raises(ArtifactError):
        artifacts.load_artifact("../etc/passwd")
    monkeypatch.setenv("QUARRY_CONTRACTS_DIR", str(tmp_path))
    with pytest.raises(ArtifactError, match="compile_contracts"):
        artifacts.load_artifact("QuarryToken")
    (tmp_path / "Broken.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable"):
        artifacts.load_artifact("Broken")
    (tmp_path / "Partial.json").write_text('{"abi": []}')
    with pytest.raises(ArtifactError, match="lacks"):
        artifacts.load_artifact("Partial")


def test_decode_revert_forms():
    from eth_abi import encode

    reason = "0x08c379a0" + encode(["string"], ["plain reason"]).hex()
    assert contracts.decode_revert(reason) == "The contract rejected the transaction: plain reason"
    panic = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert contracts.decode_revert(panic) == "The contract stopped with an arithmetic overflow or underflow."
    selector = keccak(b"OverBudget()")[:4].hex()
    assert contracts.decode_revert(ContractCustomError("0x" + selector, data="0x" + selector)) == (
        "The amounts add up to more than the round's reward."
    )
    assert contracts.revert_error_name({"data": "0x" + selector}) == "OverBudget"
    unknown = ContractCustomError("0xdeadbeef", data="0xdeadbeef")
    assert contracts.decode_revert(unknown) == (
        "The contract rejected the transaction (unknown error 0xdeadbeef)."
    )
    assert contracts.revert_error_name(unknown) is None
    assert contracts.decode_revert(RuntimeError("node is down")) == "node is down"
    assert contracts.decode_revert(b"") == "The transaction reverted."


def test_every_error_selector_is_unique():
    selectors = {}
    for name in contracts.CONTRACT_NAMES:
        for entry in artifacts.abi(name):
            if entry["type"] == "error":
                types = ",".join(i["type"] for i in entry["inputs"])
                selector = keccak(f"{entry['name']}({types})".encode())[:4]
                assert selectors.setdefault(selector, entry["name"]) == entry["name"]
    assert len(selectors) > 20


def _gasless_submitters(market, bounty_id, count, relayer):
    """``count`` fresh keys (no ETH, zero storage slots) submit distinct blobs through a relayer."""
    signers = [Account.create() for _ in range(count)]
    deadline = market.chain.next_timestamp() + 3600
    for signer in signers:
        blob = H(signer.address.encode())
        signature = sign_submission(signer, market.board, bounty_id, 0, blob, "u", deadline)
        call = market.board.functions.submitWithSignature(
            bounty_id, 0, blob, "u", signer.address, deadline, signature)
        # a fixed gas limit skips web3's estimate (a binary search of executions): 4x faster
        receipt = market.w3.eth.wait_for_transaction_receipt(call.transact({"from": relayer, "gas": 400_000}))
        assert receipt["status"] == 1
    return [s.address for s in signers]


def test_closing_a_round_costs_no_loop_over_its_submitters(market):
    """Expiry costs the same for 1 or 10 submitters (no loop); a payout batch grows linearly with
    the length the practitioner chooses, so 100 contributors per transaction fit in a block
    whatever the round's size (MAX_CONTRIBUTORS = 10,000)."""
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    costs = {}
    for kind in ("batch", "expire"):
        for count in (1, 10):  # both divide the reward: no dust slot to write in either
            bounty_id, _ = market.create_bounty(practitioner, rounds=1, max_contributors=10_000)
            addresses = _gasless_submitters(market, bounty_id, count, relayer)
            if kind == "batch":
                to_finalize_window(market, bounty_id, 0)
                call = market.board.functions.assignRewards(bounty_id, 0, addresses, [1] * count)
                costs[kind, count] = send(call, practitioner)["gasUsed"]
            else:
                to_expiry(market, bounty_id, 0)
                costs[kind, count] = send(market.board.functions.expireRound(bounty_id, 0), relayer)["gasUsed"]
    assert market.board.functions.MAX_CONTRIBUTORS().call() == 10_000
    assert costs["expire", 10] == costs["expire", 1]
    per_contributor = (costs["batch", 10] - costs["batch", 1]) / 9
    at_100 = costs["batch", 1] + 99 * per_contributor
    print(f"expire: {costs['expire', 1]:,} gas; a batch: {per_contributor:.0f} gas per contributor, "
          f"~{at_100:,.0f} for 100")
    assert 0 < per_contributor < 80_000
    assert at_100 < 10_000_000  # a third of a 30M block


def test_junk_submissions_cannot_lock_out_honest_owners(market):
    """200 junk submissions from fresh addresses arrive first; 3 honest owners still submit
    (no RoundFull), are paid the whole round in one batch, and the junk gets nothing."""
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    honest = market.chain.accounts[2:5]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1, max_contributors=1000)
    junk = _gasless_submitters(market, bounty_id, 200, relayer)
    for who in honest:
        market.submit(bounty_id, 0, who)
    assert market.board.functions.getRound(bounty_id, 0).call()[1] == 203
    to_finalize_window(market, bounty_id, 0)
    amounts = [REWARD // 2, REWARD // 4, REWARD // 8]
    send(finalize_call(market, bounty_id, 0, honest, amounts), practitioner)
    assert [claimable(market, who) for who in honest] == amounts
    # the unassigned eighth is the leftover of those paid: the honest three, pro rata
    for who in honest:
        send(market.board.functions.claimLeftover(bounty_id, who), who)
    assert [claimable(market, who) for who in honest] == [REWARD * 4 // 7, REWARD * 2 // 7, REWARD // 7]
    assert all(market.board.functions.leftoverShare(bounty_id, j).call() == 0 for j in junk[:5])
    expect_revert("NothingToClaim", market.board.functions.claimLeftover(bounty_id, junk[0]), relayer)


@pytest.mark.anvil
def test_artifacts_deploy_and_revert_readably_on_anvil():
    """The committed bytecode runs on anvil (another EVM than py-evm) over JSON-RPC, deployed by
    a local signer with EIP-1559, and a real node's custom error decodes to the same message."""
    from web3 import Web3

    from tests.anvil import ANVIL_KEY_0, start_anvil

    with start_anvil() as url:
        w3 = Web3(Web3.HTTPProvider(url))
        signer = Account.from_key(ANVIL_KEY_0)
        token_address = contracts.deploy(w3, signer, "QuarryToken", signer.address)
        board_address = contracts.deploy(w3, signer, "BountyBoard", GRACE_PERIOD)
        # QuarryToken has no immutables, so its runtime code is exactly the artifact's
        assert w3.eth.get_code(token_address).hex() == (
            artifacts.load_artifact("QuarryToken")["deployedBytecode"][2:]
        )
        board_code = artifacts.load_artifact("BountyBoard")["deployedBytecode"][2:]
        assert len(w3.eth.get_code(board_address).hex()) == len(board_code)
        token = w3.eth.contract(address=token_address, abi=artifacts.abi("QuarryToken"))
        board = w3.eth.contract(address=board_address, abi=artifacts.abi("BountyBoard"))
        assert token.functions.symbol().call() == "QDT"
        with pytest.raises(ContractCustomError) as info:
            board.functions.getBounty(1).call()
        assert contracts.decode_revert(info.value) == "There is no bounty with this id."
        stranger = w3.eth.accounts[3]
        with pytest.raises(ContractCustomError) as info:
            token.functions.mint(stranger, 1).transact({"from": stranger})
        assert contracts.decode_revert(info.value) == f"{stranger} is not the owner of this contract."


def test_decode_revert_follows_the_artifact_directory(tmp_path, monkeypatch):
    selector = "0x" + keccak(b"RoundFull()")[:4].hex()
    monkeypatch.setenv("QUARRY_CONTRACTS_DIR", str(tmp_path))  # no artifacts here
    assert contracts.revert_error_name(selector) is None
    monkeypatch.delenv("QUARRY_CONTRACTS_DIR")
    assert contracts.revert_error_name(selector) == "RoundFull"
    assert contracts.decode_revert(selector) == "The round already has its maximum number of contributors."
