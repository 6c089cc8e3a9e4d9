"""A practitioner's track record counted from a constructed history on py-evm: bounties,
rounds finalised vs expired, escrow that reached contributors, reveals made / missed / due,
and the mismatches this wallet recorded."""

from __future__ import annotations

from eth_utils import keccak

from tests.chain_fixtures import GRACE_PERIOD, TOKEN_UNIT, new_market, send
from wallet.bounties import BountyClient
from wallet.store import Store
from wallet.track_record import track_record
from wallet.verify import MISMATCH, RoundCheck, record_result

REWARD = 100 * TOKEN_UNIT
NO_MODEL = (keccak(b"next"), "file:///next.bin", keccak(b"report"), "file:///report.json")


def _finalize(market, practitioner, bounty_id, round_, payees, amounts):
    send(market.board.functions.finalize(bounty_id, round_, payees, amounts, *NO_MODEL), practitioner)


def test_track_record_of_a_constructed_history(tmp_path):
    market = new_market()
    practitioner, other, alice, bob = market.chain.accounts[1:5]
    # bounty 1: round 0 pays 30 of 100 (70 carried), round 1 pays 50; ends; revealed
    one, _ = market.create_bounty(practitioner, reward=REWARD, rounds=2)
    market.submit(one, 0, alice, b"a0")
    market.submit(one, 0, bob, b"b0")
    market.chain.advance(3601)
    _finalize(market, practitioner, one, 0, [alice], [30 * TOKEN_UNIT])
    market.submit(one, 1, alice, b"a1")
    market.chain.advance(3601)
    _finalize(market, practitioner, one, 1, [alice], [50 * TOKEN_UNIT])
    send(market.board.functions.revealValidation(one, keccak(b"set"), "file:///set.npz"), practitioner)
    # bounty 2: one round, one submitter, never finalised: expired; no reveal long after
    two, _ = market.create_bounty(practitioner, reward=REWARD, rounds=1)
    market.submit(two, 0, bob, b"b2")
    market.chain.advance(3601 + GRACE_PERIOD)
    send(market.board.functions.expireRound(two, 0), alice)
    market.chain.advance(GRACE_PERIOD + 1)
    # bounty 3: three rounds, cancelled in round 0 (2 rounds refunded), round 0 closes empty:
    # ended just now, so its reveal is still due
    three, _ = market.create_bounty(practitioner, reward=REWARD, rounds=3)
    send(market.board.functions.cancel(three), practitioner)
    market.chain.advance(3601)
    _finalize(market, practitioner, three, 0, [], [])
    # someone else's bounty does not count
    market.create_bounty(other, reward=REWARD, rounds=1)

    with Store(tmp_path) as store:
        client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
        record_result(store, "test", client.board_address, alice,
                      RoundCheck(one, 0, "0x" + "11" * 32, MISMATCH, "Mismatch: payouts."))
        record = track_record(client, practitioner)
        assert record.bounty_ids == [one, two, three]
        assert record.bounties_posted == 3 and record.escrowed == 6 * REWARD
        assert (record.rounds_finalised, record.rounds_expired) == (3, 1)
        # closed rounds with submissions: bounty 1's two and bounty 2's one; every token of them
        # reached contributors (30 + 50 assigned, 120 left over, 100 by expiry)
        assert record.rounds_closed_with_submissions == 3
        assert record.escrow_of_those_rounds == 3 * REWARD
        assert record.reached_contributors == 3 * REWARD and record.share_to_contributors == 1.0
        assert record.returned_unused == 3 * REWARD  # bounty 3: 2 rounds cancelled + 1 empty
        assert (record.reveals_made, record.reveals_missed, record.reveals_due) == (1, 1, 1)
        assert record.not_verifiable == 0
        assert record.mismatches_seen == 1 and record.mismatch_bounties == [one]
        text = "\n".join(record.lines())
        assert "bounties posted: 3" in text and "100.0%" in text and "1 missed" in text
        data = record.as_dict()
        assert data["escrowed"] == str(6 * REWARD) and data["share_to_contributors"] == 1.0
        # a second look reads only new blocks and gives the same numbers
        assert track_record(client, practitioner) == record
        assert track_record(client, other).bounties_posted == 1
