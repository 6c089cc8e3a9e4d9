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
from wallet.errors import InvalidInput, NotFound, TransactionFailed

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
    token = market.w3.eth.contract(address=address, abi=contracts.abi("QuarryToken"))
    assert token.functions.owner().call() == signer.address
    deployed = market.w3.eth.get_code(address)
    assert deployed.hex() == contracts.load_artifact("QuarryToken")["deployedBytecode"][2:]
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
        ("max_contributors", 257),
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
        market.token.address, 1, 10_000, 3650 * 86400, 256, H(b"s"), "", b"\0" * 32, "",
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
    market.submit(bounty_id, 0, alice)
    error = expect_revert("AlreadySubmitted", submit(bounty_id, 0, H(b"y"), "u"), alice)
    assert contracts.decode_revert(error) == "This address has already submitted to this round."
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
        abi=contracts.abi("BountyBoard"),
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
    assert claimable(market, practitioner) == REWARD - 90
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
    assert (bounty[8], bounty[9], bounty[10]) == (1, 0, REWARD)
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


# ------------------------------------------------------------------------------- expireRound


def test_expire_splits_the_round_equally_with_dust_to_the_owner(market):
    practitioner, alice, bob, carol, stranger = market.chain.accounts[1:6]
    bounty_id, _ = market.create_bounty(practitioner, reward=100, rounds=2)
    for who in (alice, bob, carol):
        market.submit(bounty_id, 0, who, who.encode())
    market.chain.travel_to(market.deadline(bounty_id, 0) + GRACE_PERIOD - 1)
    error = expect_revert("GracePeriodNotOver", market.board.functions.expireRound(bounty_id, 0), stranger)
    assert contracts.decode_revert(error) == "The round cannot be expired yet: its grace period is not over."
    market.chain.advance(1)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), stranger)
    assert [claimable(market, who) for who in (alice, bob, carol)] == [33, 33, 33]
    assert claimable(market, practitioner) == 1
    assert claimable(market, stranger) == 0
    (expired,) = events(market.board, "RoundExpired", receipt)
    assert dict(expired) == {"bountyId": bounty_id, "round": 0, "perSubmitter": 33}
    assert len(events(market.board, "RewardAssigned", receipt)) == 3
    # the next round trains from the same model
    (opened,) = events(market.board, "RoundOpened", receipt)
    assert (opened["round"], opened["modelHash"], opened["modelURI"]) == (
        1, H(b"model-0"), "file:///model-0.bin",
    )
    assert market.board.functions.getRound(bounty_id, 0).call()[2] == 3  # Expired
    assert market.board.functions.getBounty(bounty_id).call()[10] == 100
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


def test_cancel_before_any_submission_refunds_everything(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    receipt = send(market.board.functions.cancel(bounty_id), practitioner)
    (cancelled,) = events(market.board, "BountyCancelled", receipt)
    assert dict(cancelled) == {"bountyId": bounty_id, "refunded": 3 * REWARD}
    assert claimable(market, practitioner) == 3 * REWARD
    assert market.board.functions.getBounty(bounty_id).call()[9:] == [2, 0]
    assert [market.board.functions.getRound(bounty_id, r).call()[2] for r in range(3)] == [4, 4, 4]
    expect_revert("BountyNotOpen", market.board.functions.submit(bounty_id, 0, H(b"x"), "u"), alice)
    expect_revert("BountyNotOpen", market.board.functions.cancel(bounty_id), practitioner)
    to_finalize_window(market, bounty_id, 0)
    expect_revert("AlreadyClosed", finalize_call(market, bounty_id, 0, [], []), practitioner)


def test_cancel_keeps_a_round_that_has_submissions(market):
    practitioner, alice, bob = market.chain.accounts[1:4]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    market.submit(bounty_id, 0, alice)
    receipt = send(market.board.functions.cancel(bounty_id), practitioner)
    assert events(market.board, "BountyCancelled", receipt)[0]["refunded"] == 2 * REWARD
    assert market.board.functions.getBounty(bounty_id).call()[9:] == [2, REWARD]
    assert market.board.functions.getRound(bounty_id, 0).call()[2] == 1  # still open
    assert market.board.functions.getRound(bounty_id, 1).call()[2] == 4
    expect_revert("BountyNotOpen", market.board.functions.submit(bounty_id, 0, H(b"b"), "u"), bob)
    # the submitter is still paid: by finalize, or by expiry if the owner walks away
    to_expiry(market, bounty_id, 0)
    receipt = send(market.board.functions.expireRound(bounty_id, 0), bob)
    assert claimable(market, alice) == REWARD
    assert events(market.board, "RoundOpened", receipt) == []
    bounty = market.board.functions.getBounty(bounty_id).call()
    assert (bounty[8], bounty[9], bounty[10]) == (0, 2, 0)


def test_cancel_in_a_later_round_then_finalize(market):
    practitioner, alice = market.chain.accounts[1:3]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    to_finalize_window(market, bounty_id, 0)
    send(finalize_call(market, bounty_id, 0, [], []), practitioner)
    market.submit(bounty_id, 1, alice)
    send(market.board.functions.cancel(bounty_id), practitioner)
    assert claimable(market, practitioner) == 2 * REWARD  # round 0 unpaid + round 2 withdrawn
    to_finalize_window(market, bounty_id, 1)
    send(finalize_call(market, bounty_id, 1, [alice], [40]), practitioner)
    assert claimable(market, alice) == 40
    assert claimable(market, practitioner) == 3 * REWARD - 40
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
    send(claim, practitioner)
    assert balance(market, practitioner) == 30 * TOKEN_UNIT
    assert balance(market, market.board.address) == 0


def test_reentrant_token_cannot_claim_twice(market):
    practitioner = market.chain.accounts[1]
    evil = deploy_test_contract(market.chain, "ReentrantToken")
    send(evil.functions.mint(practitioner, 200), market.owner)
    send(evil.functions.approve(market.board.address, 200), practitioner)
    send(market.board.functions.createBounty(evil.address, 100, 2, 60, 1, H(b"s"), "s", H(b"m"), "m"),
         practitioner)
    send(market.board.functions.cancel(1), practitioner)
    claim = market.board.functions.claim(evil.address)
    # the token calls claim again from inside the board's transfer: the guard stops it
    send(evil.functions.arm(market.board.address, claim.build_transaction({"gas": 0})["data"]), practitioner)
    expect_revert("ReentrancyGuardReentrantCall", claim, practitioner)
    assert evil.functions.balanceOf(market.board.address).call() == 200
    send(evil.functions.arm(ZERO, b""), practitioner)
    send(claim, practitioner)
    assert evil.functions.balanceOf(practitioner).call() == 200


# ------------------------------------------------------------------------------- views


def test_views_reject_unknown_bounties_and_rounds(market):
    board = market.board.functions
    for call in (board.getBounty(1), board.getRound(1, 0), board.getSubmitters(1, 0),
                 board.getSubmission(1, 0, ZERO)):
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
    assert figures["submit"] < 250_000  # a 100-byte URI in storage is most of it
    assert figures["finalize_4"] < 400_000


# ------------------------------------------------------------------------------- wallet.contracts


def test_load_artifact_is_a_cached_copy():
    first = contracts.load_artifact("BountyBoard")
    assert first["contractName"] == "BountyBoard"
    assert first["bytecode"].startswith("0x") and len(first["bytecode"]) > 1000
    assert first["solcVersion"].startswith("0.8.28+")
    first["abi"].clear()
    assert contracts.abi("BountyBoard"), "mutating a returned artifact must not touch the cache"
    names = {e["name"] for e in contracts.abi("BountyBoard") if e["type"] == "error"}
    assert {"NotOwner", "RoundNotOpen", "AlreadySubmitted", "DeadlineNotReached", "GracePeriodOver",
            "GracePeriodNotOver", "NotASubmitter", "DuplicateContributor", "OverBudget",
            "BadSignature", "SignatureExpired", "NothingToClaim", "InvalidParameters",
            "BountyNotOpen", "RoundNotCurrent", "AlreadyClosed"} <= names
    assert names <= set(contracts.ERROR_MESSAGES), "every custom error has a message"


def test_load_artifact_errors(tmp_path, monkeypatch):
    with pytest.raises(InvalidInput):
        contracts.load_artifact("../etc/passwd")
    monkeypatch.setenv("QUARRY_CONTRACTS_DIR", str(tmp_path))
    with pytest.raises(NotFound, match="compile_contracts"):
        contracts.load_artifact("QuarryToken")
    (tmp_path / "Broken.json").write_text("{not json")
    with pytest.raises(InvalidInput, match="unreadable"):
        contracts.load_artifact("Broken")
    (tmp_path / "Partial.json").write_text('{"abi": []}')
    with pytest.raises(InvalidInput, match="lacks"):
        contracts.load_artifact("Partial")


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
        for entry in contracts.abi(name):
            if entry["type"] == "error":
                types = ",".join(i["type"] for i in entry["inputs"])
                selector = keccak(f"{entry['name']}({types})".encode())[:4]
                assert selectors.setdefault(selector, entry["name"]) == entry["name"]
    assert len(selectors) > 20


def test_closing_a_full_round_fits_well_within_a_block(market):
    """finalize and expire loop over a round's contributors: at MAX_CONTRIBUTORS (256) they must
    still fit in a block. Measured on 1 and 9 contributors, extrapolated linearly."""
    practitioner, relayer = market.chain.accounts[1], market.chain.accounts[6]
    costs = {}
    for kind in ("finalize", "expire"):
        for count in (1, 9):
            signers = [Account.create() for _ in range(count)]  # fresh: zero claimable slots
            bounty_id, _ = market.create_bounty(practitioner, rounds=1, max_contributors=256)
            deadline = market.chain.next_timestamp() + 3600
            for signer in signers[:count]:
                signature = sign_submission(signer, market.board, bounty_id, 0, H(b"x"), "u", deadline)
                send(market.board.functions.submitWithSignature(
                    bounty_id, 0, H(b"x"), "u", signer.address, deadline, signature), relayer)
            if kind == "finalize":
                to_finalize_window(market, bounty_id, 0)
                addresses = [s.address for s in signers[:count]]
                call = finalize_call(market, bounty_id, 0, addresses, [1] * count)
                costs[kind, count] = send(call, practitioner)["gasUsed"]
            else:
                to_expiry(market, bounty_id, 0)
                costs[kind, count] = send(market.board.functions.expireRound(bounty_id, 0), relayer)["gasUsed"]
    assert market.board.functions.MAX_CONTRIBUTORS().call() == 256
    for kind in ("finalize", "expire"):
        per_contributor = (costs[kind, 9] - costs[kind, 1]) / 8
        at_max = costs[kind, 1] + 255 * per_contributor
        print(f"{kind}: {per_contributor:.0f} gas per contributor, ~{at_max:,.0f} at 256")
        assert 0 < per_contributor < 40_000
        assert at_max < 15_000_000  # half of a 30M block


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
            contracts.load_artifact("QuarryToken")["deployedBytecode"][2:]
        )
        board_code = contracts.load_artifact("BountyBoard")["deployedBytecode"][2:]
        assert len(w3.eth.get_code(board_address).hex()) == len(board_code)
        token = w3.eth.contract(address=token_address, abi=contracts.abi("QuarryToken"))
        board = w3.eth.contract(address=board_address, abi=contracts.abi("BountyBoard"))
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
