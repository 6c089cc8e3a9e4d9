"""Round-report helpers for the verification tests (tests/test_verify.py, the Rewards page's
test): decrypt the owners' submissions as the practitioner does and finalise a round with an
honest or a doctored version 2 report. `world` is a dict with "session" (practitioner),
"key" (its Paillier private key), "client" (the owners' BountyClient) and "owners" (signers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practitioner.state import load_validation
from tests.chain_fixtures import TOKEN_UNIT
from trainer.aggregate import decrypt_update
from trainer.encoding import encoding_slack
from trainer.models import model_from_bytes, model_from_spec, model_to_bytes
from trainer.scoring import log_loss
from trainer.spec import BountySpec, canonical_json_bytes
from trainer.update_blob import parse_blob

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
REWARD = 10 * TOKEN_UNIT


def load_spec(session, bounty_id):
    bounty = session.client.bounty(bounty_id)
    return BountySpec.from_json_bytes(session.blob(bounty.spec_hash, bounty.spec_uri))


def model_params(session, spec, model_hash, uri):
    return model_from_bytes(session.blob(model_hash, uri), spec).get_params()


@dataclass
class Decrypted:
    address: str
    blob_hash: str
    update: np.ndarray


def decrypted(world, bounty_id):
    """Each owner's submission as the practitioner decrypts it."""
    session, client = world["session"], world["client"]
    spec = load_spec(session, bounty_id)
    found = []
    for owner in world["owners"]:
        mine = client.submission(bounty_id, 0, owner.address)
        blob = parse_blob(session.blob(mine["blob_hash"], mine["uri"]), expected_public_key=spec.public_key())
        found.append(Decrypted(owner.address, mine["blob_hash"], decrypt_update(world["key"], blob)))
    return spec, found


def contributing_owners(market, session, home, bounty_ids, files):
    """(owners' BountyClient, owners): one funded owner per file, each sending its file without
    noise to every bounty of `bounty_ids` through the wallet (kept updates in `home`)."""
    from tests.chain_fixtures import funded_signer
    from wallet.bounties import BountyClient
    from wallet.contribute import ContributeOptions, contribute
    from wallet.store import Store

    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, Store(home), "test",
                          file_roots=None)
    owners = [funded_signer(market.chain) for _ in files]
    for bounty_id in bounty_ids:
        for owner, name in zip(owners, files, strict=True):
            contribute(client, owner, bounty_id, [DEMO / name], ContributeOptions(privacy="none"),
                       file_roots=[session.home.root], blob_dir=home / "blobs")
    return client, owners


def submitted_blob(world, bounty_id, owner):
    """(blob bytes, blob hash, parsed blob) of owner `owner`'s submission to round 0."""
    session = world["session"]
    spec = load_spec(session, bounty_id)
    found = world["client"].submission(bounty_id, 0, world["owners"][owner].address)
    data = session.blob(found["blob_hash"], found["uri"])
    return data, found["blob_hash"], parse_blob(data, spec.public_key())


def counted_as_valued(spec, update, reference, bound):
    """The update as the round's valuation counts it (PROTOCOL, Valuation step 1 and 3):
    projected onto the clip ball when longer than the clip norm + the encoding's rounding slack
    (a clipped update, rounded to the encoding's precision, can come out a little longer; one
    noised after clipping, much longer), then scaled down along the reference to the round's
    bound."""
    from trainer.alignment import along_scale
    from trainer.encoding import counted_update

    kept = counted_update(update, spec.privacy.clip_norm, spec.encoding.precision_bits)
    scale = along_scale(kept, reference, bound)
    return kept * scale if scale < 1.0 else kept


def honest_round(world, bounty_id, *, values=None, restate=None, rejected=None, copies=None,
                 factors=None, amounts=None, reward=REWARD, doctor=None, next_params=None):
    """Value round 0 as the practitioner does, publish a version 2 report and finalise.

    Each owner not in `rejected` (owner index -> reason) or `copies` (owner index -> the
    index of the owner whose update it is said to copy: a copy line, paid 0) is a player: the next model is the
    round model + the players' updates / their number, its line has its value and standard
    error as the practitioner's `value_round` measures them (`values[i]` = (value, stdErr)
    overrides them all; a dict {i: (value, stdErr)} some; `restate(values)` edits the measured
    ones), its true pay factor (its kept update against the reference update on the
    validation set; `factors` overrides some) and the amount the pay rule gives
    (`round_amounts`), as the chain pays them. `amounts` pays (chain and report alike) other
    amounts than the rule's; `reward` is the reward the report says it shares; `doctor(report)`
    edits the report after the chain's amounts are fixed; `next_params` finalises with another
    next model."""
    from trainer.alignment import alignment_pay_factor, cosine, reference_update, round_along_bound
    from wallet.round_report import round_amounts

    session = world["session"]
    rejected, copies = rejected or {}, copies or {}
    spec, decoded = decrypted(world, bounty_id)
    info = session.client.round(bounty_id, 0)
    start = model_params(session, spec, info.model_hash, info.model_uri)
    x, y = load_validation(session.bounty_dir(bounty_id))
    model = model_from_spec(spec)

    def score(params):
        model.set_params(params)
        return log_loss(model, x, y)

    reference = reference_update(spec, start, x, y)
    bound = round_along_bound(spec, start, x, y, reference)  # round 0: the clip norm, no update beyond it
    players = [(i, d) for i, d in enumerate(decoded) if i not in rejected and i not in copies]
    n = len(players)
    counted = {i: counted_as_valued(spec, d.update, reference, bound) for i, d in players}
    after = start + sum(counted[i] for i, _d in players) / n
    model.set_params(after)
    next_hash, next_uri = session.publish(model_to_bytes(model))
    pay_factors = [(factors or {}).get(i, alignment_pay_factor(cosine(d.update, reference), d.update.size))
                   for i, d in players]
    if values is None or isinstance(values, dict):  # the practitioner's own valuation of the players
        from practitioner.decode import ValidationScorer
        from practitioner.valuation import DecodedSubmission, value_round

        valued = value_round(start, [DecodedSubmission(d.address, d.blob_hash, d.update, order=i) for i, d in players],
                             ValidationScorer(spec, x, y), reward, clip_norm=spec.privacy.clip_norm,
                             clip_slack=encoding_slack(start.size, spec.encoding.precision_bits),
                             reference=reference, along_bound=bound)
        assert np.array_equal(valued.next_params, after)  # the fixture's next model is the practitioner's
        by_address = {line.address: (line.value, line.std_err) for line in valued.contributors}
        values = {**{i: by_address[d.address] for i, d in players}, **(values or {})}
        assert all(values[i][0] > 0 for i, _d in players), values  # every player is in the next model
        if restate is not None:  # a practitioner restating the values it measured (and paying by them)
            values = restate(values)
    if amounts is None:
        amounts = round_amounts([values[i][0] for i, _d in players], [values[i][1] for i, _d in players],
                                pay_factors, reward)
    lines = [{
        "address": d.address, "blobHash": d.blob_hash, "value": values[i][0], "stdErr": values[i][1],
        "share": amount / reward, "amount": str(amount), "inModel": True,
        "metricWithout": score(after - counted[i] / n), "copyOf": None, "payFactor": factor,
    } for (i, d), amount, factor in zip(players, amounts, pay_factors, strict=True)]
    lines += [{
        "address": decoded[i].address, "blobHash": decoded[i].blob_hash, "value": 0.0, "stdErr": 0.0,
        "share": 0.0, "amount": "0", "inModel": False, "metricWithout": score(after),
        "copyOf": decoded[original].address, "payFactor": 1.0,
    } for i, original in sorted(copies.items())]
    report = {
        "kind": "quarry-round-report", "version": 2, "bountyId": bounty_id, "round": 0,
        "specHash": session.client.bounty(bounty_id).spec_hash, "modelHash": info.model_hash,
        "nextModelHash": next_hash, "metric": "log_loss", "metricBefore": score(start),
        "metricAfter": score(after), "accuracyBefore": 0.5, "accuracyAfter": 0.9,
        "denominator": n, "players": n, "method": "exact", "seed": None, "evaluations": 4,
        "reward": str(reward), "paid": str(sum(amounts)), "contributors": lines,
        "rejected": [{"address": decoded[i].address, "blobHash": decoded[i].blob_hash, "reason": reason}
                     for i, reason in sorted(rejected.items())],
        "alongBound": bound,
    }
    if doctor is not None:
        doctor(report)
    report_hash, report_uri = session.publish(canonical_json_bytes(report))
    if next_params is not None:
        model.set_params(next_params)
        next_hash, next_uri = session.publish(model_to_bytes(model))
    session.client.finalize(bounty_id, 0, [d.address for _i, d in players], list(amounts), next_hash, next_uri,
                            report_hash, report_uri)
    return report


def end_and_reveal(world, bounty_id, *, tamper=False):
    """Close the bounty's last round (round 1, nobody submitted) and reveal its validation set
    as the practitioner does at the end (or, with `tamper`, a set with one value changed)."""
    from eth_utils import keccak

    from practitioner.state import read_json
    from trainer.reveal import validation_reveal_bytes
    from wallet.tx import transact

    session, market = world["session"], world["market"]
    market.chain.advance(601)
    info = session.client.round(bounty_id, 1)
    session.client.finalize(bounty_id, 1, [], [], info.model_hash, info.model_uri,
                            "0x" + keccak(b"no report").hex(), "file:///none")
    if not tamper:  # the practitioner's own reveal (quarry-practitioner reveal, run, the demo)
        from practitioner.reveal import reveal_validation

        reveal_validation(session, bounty_id)
        return
    # a dishonest one: another set than the spec committed to (the practitioner's code refuses)
    directory = session.bounty_dir(bounty_id)
    x, y = load_validation(directory)
    x = x.copy()
    x[0, 0] += 1.0
    salt = bytes.fromhex(read_json(directory / "bounty.json")["validationSalt"])
    data_hash, uri = session.publish(validation_reveal_bytes(x, y, salt))
    call = market.board.functions.revealValidation(bounty_id, bytes.fromhex(data_hash[2:]), uri)
    transact(market.w3, session.signer, call, expected_chain_id=market.w3.eth.chain_id)
