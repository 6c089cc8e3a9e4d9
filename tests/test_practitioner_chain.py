"""practitioner.chain.BoardClient on py-evm: a payout larger than a batch goes out as
assignRewards batches then finalize, and a finalize interrupted between batches resumes."""

from __future__ import annotations

from eth_utils import keccak

from practitioner.chain import BoardClient
from tests.chain_fixtures import funded_signer, new_market
from wallet.tx import transact


def _bounty_with_submitters(market, practitioner, count: int) -> tuple[int, list[str]]:
    market.mint(practitioner.address, 1000)
    client = BoardClient(market.w3, market.board.address, market.w3.eth.chain_id, practitioner)
    client.approve(market.token.address, 1000)
    bounty_id = client.create_bounty(
        token=market.token.address, reward_per_round=1000, rounds=1, round_duration=600,
        max_contributors=50, spec_hash="0x" + keccak(b"spec").hex(), spec_uri="file:///spec",
        model_hash="0x" + keccak(b"m").hex(), model_uri="file:///m")
    contributors = market.chain.accounts[2:2 + count]
    for who in contributors:
        market.submit(bounty_id, 0, who)
    market.chain.travel_to(market.deadline(bounty_id, 0))
    return bounty_id, contributors


def test_finalize_sends_batches_and_resumes_after_an_interruption():
    market = new_market()
    practitioner = funded_signer(market.chain)
    client = BoardClient(market.w3, market.board.address, market.w3.eth.chain_id, practitioner)
    bounty_id, contributors = _bounty_with_submitters(market, practitioner, 5)
    amounts = [100, 200, 0, 300, 50]
    hashes = ("0x" + keccak(b"next").hex(), "file:///next", "0x" + keccak(b"report").hex(), "file:///r")
    # a crash after the first batch: it is on chain, the rest is not
    transact(market.w3, practitioner, market.board.functions.assignRewards(bounty_id, 0, contributors[:2], amounts[:2]),
             expected_chain_id=market.w3.eth.chain_id)
    start = market.w3.eth.block_number
    client.finalize(bounty_id, 0, contributors, amounts, *hashes, batch=2)
    # one more batch (contributors 3-4) and the finalize with the fifth: the first batch was skipped
    assert market.w3.eth.block_number - start == 2
    for who, amount in zip(contributors, amounts, strict=True):
        assert market.board.functions.claimable(market.token.address, who).call() == amount
    pot = client.pot(bounty_id)
    assert (pot.ended, pot.total_paid, pot.leftover) == (True, 650, 350)
    assert client.round(bounty_id, 0).state_text == "finalized"


def test_a_small_payout_is_one_finalize():
    market = new_market()
    practitioner = funded_signer(market.chain)
    client = BoardClient(market.w3, market.board.address, market.w3.eth.chain_id, practitioner)
    bounty_id, contributors = _bounty_with_submitters(market, practitioner, 3)
    start = market.w3.eth.block_number
    client.finalize(bounty_id, 0, contributors, [1, 2, 3], "0x" + keccak(b"n").hex(), "file:///n",
                    "0x" + keccak(b"r").hex(), "file:///r", batch=3)
    assert market.w3.eth.block_number - start == 1
    assert client.reveal(bounty_id) is None
    client.reveal_validation(bounty_id, "0x" + keccak(b"v").hex(), "file:///v")
    assert client.reveal(bounty_id) == ("0x" + keccak(b"v").hex(), "file:///v")
