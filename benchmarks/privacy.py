"""Privacy that still pays: each privacy setting on real demo markets, measured.

    python -m benchmarks.privacy [--quick] [--json] [--datasets a,b] [--splits N] [--rounds R]

A market is one bounty on a real scikit-learn table (breast cancer, wine and digits are the
demo bounties; iris and diabetes, cut at its median, are two more in full mode): 20 % of the
rows are the practitioner's validation set, 25 % a test set nobody trains on, and the rest is
split among 4 honest owners; a fifth address is a free rider that sends random noise of an
honest update's norm. Every round each honest owner trains with the real trainer
(`trainer.update.make_update`, the bounty's model and training settings, the clip norm `post`
calibrates) at the setting measured, and the round is valued by the real valuation
(`practitioner.valuation.value_round`, log-loss, the practitioner's reference update); the
next round starts from the valuation's next model. Paillier is skipped (the updates are
rounded to the encoding's fixed-point step instead: what the practitioner decrypts).

Per setting (JSON `settings`, one object each):
- name, mechanism, default (true for the wallet's default), parameters,
- epsilon: one contribution's epsilon at delta 1e-5, from dp-accounting (trainer.privacy),
- accuracy: test accuracy of the model after the last round, mean over markets,
- accuracy_drop_points: (accuracy without noise - accuracy) * 100, mean over markets,
- honest_paid_fraction: share of (honest owner, round) pairs paid more than 0,
- free_rider_paid_fraction: the same for the free rider,
- second_wallet_pair_median_ratio / _max_ratio: the first owner's file trained again in a
  second wallet and submitted from another address (a sybil using the app as it is): the
  pair's pay / the owner's pay without it. Without noise the second update is the same (the
  spec fixes the seed) and valuation credits it once; with noise, drawn afresh each run, it
  is a different update (None: the owner alone was paid 0),
and each of these per data set under `per_dataset`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._common import emit, machine
from benchmarks._markets import quantise, split_market
from practitioner.decode import ValidationScorer, reference_update
from practitioner.valuation import DecodedSubmission, encoding_slack, value_round
from trainer.alignment import round_along_bound
from trainer.dp_sgd import DEFAULT_CLIP, DEFAULT_NOISE_MULTIPLIER, DpSgdConfig, dp_sgd_for
from trainer.models import model_from_spec
from trainer.privacy import (
    NO_NOISE,
    ROW_LEVEL,
    USER_LEVEL,
    dp_sgd_event,
    epsilon_of,
    user_level_event,
)
from trainer.spec import BountySpec
from trainer.update import make_update

REWARD = 10**18
DELTA = 1e-5
DEMO = ("breast_cancer", "wine", "digits")
MORE = ("iris", "diabetes")
HONEST = ("h1", "h2", "h3", "h4")


@dataclass(frozen=True)
class Setting:
    """A privacy setting. DP-SGD's sampling rate and epochs default (None) to the wallet's
    rule (trainer.dp_sgd.dp_sgd_for: the spec's batch size over the owner's rows, the spec's
    epochs), so they are resolved per owner."""

    name: str
    mechanism: str
    noise_multiplier: float = 0.0
    clip: float = DEFAULT_CLIP
    sampling_rate: float | None = None
    epochs: int | None = None

    @property
    def is_default(self) -> bool:
        return (self.mechanism == ROW_LEVEL and self.noise_multiplier == DEFAULT_NOISE_MULTIPLIER
                and self.clip == DEFAULT_CLIP and self.sampling_rate is None and self.epochs is None)

    def dp_sgd(self, spec: BountySpec, n_rows: int) -> DpSgdConfig | None:
        if self.mechanism != ROW_LEVEL:
            return None
        return dp_sgd_for(spec.training, n_rows, self.noise_multiplier, self.clip,
                          self.sampling_rate, self.epochs)

    def epsilon(self, spec: BountySpec, n_rows: int) -> float:
        config = self.dp_sgd(spec, n_rows)
        if config is not None:
            return epsilon_of(dp_sgd_event(config.noise_multiplier, config.sampling_rate, config.steps), DELTA)
        if self.mechanism == USER_LEVEL:
            return epsilon_of(user_level_event(self.noise_multiplier), DELTA)
        return float("inf")

    def parameters(self) -> dict[str, Any]:
        if self.mechanism == ROW_LEVEL:
            return {"noise_multiplier": self.noise_multiplier, "clip": self.clip,
                    "sampling_rate": self.sampling_rate or "batch_size / rows",
                    "epochs": self.epochs or "the spec's"}
        return {"noise_multiplier": self.noise_multiplier} if self.mechanism == USER_LEVEL else {}


def dp(sigma: float, clip: float = DEFAULT_CLIP, q: float | None = None, epochs: int | None = None) -> Setting:
    name = f"each row: sigma {sigma:g}, clip {clip:g}" + (f", q {q:g}" if q else "") + (
        f", {epochs} epochs" if epochs else "")
    return Setting(name, ROW_LEVEL, sigma, clip, q, epochs)


def settings(quick: bool) -> list[Setting]:
    out = [Setting("no noise", NO_NOISE), dp(DEFAULT_NOISE_MULTIPLIER)]
    if not quick:
        out += [dp(sigma) for sigma in (0.7, 1.0, 1.5, 3.0) if sigma != DEFAULT_NOISE_MULTIPLIER]
        out += [dp(DEFAULT_NOISE_MULTIPLIER, DEFAULT_CLIP / 4), dp(DEFAULT_NOISE_MULTIPLIER, DEFAULT_CLIP * 2)]
    out += [Setting("whole dataset: sigma 0.5", USER_LEVEL, noise_multiplier=0.5),
            Setting("whole dataset: sigma 1", USER_LEVEL, noise_multiplier=1.0)]
    if not quick:
        out.append(Setting("whole dataset: sigma 2", USER_LEVEL, noise_multiplier=2.0))
    return out


@dataclass
class Market:
    spec: BountySpec
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    parts: dict[str, tuple[np.ndarray, np.ndarray]]


def build_market(name: str, split: int) -> Market:
    cut = split_market(name, np.random.default_rng(7_000 * (len(name) + 1) + split))
    chunks = np.array_split(np.arange(len(cut.pool_y)), len(HONEST))
    parts = {owner: (cut.pool_x[idx], cut.pool_y[idx])
             for owner, idx in zip(HONEST, chunks, strict=True)}
    return Market(cut.spec, cut.x_val, cut.y_val, cut.x_test, cut.y_test, parts)


def owner_update(market: Market, params: np.ndarray, owner: str, setting: Setting,
                 rng: np.random.Generator) -> np.ndarray:
    x, y = market.parts[owner]
    config = setting.dp_sgd(market.spec, len(y))
    noise = setting.noise_multiplier if setting.mechanism == USER_LEVEL else 0.0
    update = make_update(market.spec, params, x, y, noise_multiplier=noise, dp_sgd=config, rng=rng)
    return quantise(update.delta)


def value_market(market: Market, params: np.ndarray, updates: dict[str, np.ndarray], order: list[str],
                 scorer: ValidationScorer, reference: np.ndarray) -> tuple[Any, dict[str, int]]:
    """(valuation, owner -> amount) of one round with these updates, submitted in `order`
    (the round's scorer and the practitioner's reference update, computed once per round)."""
    address = {o: f"0x{i + 1:040x}" for i, o in enumerate(updates)}
    subs = [DecodedSubmission(address[o], "0x" + "00" * 32, updates[o], order=i) for i, o in enumerate(order)]
    by_address = {a: o for o, a in address.items()}
    valuation = value_round(
        params, subs, scorer, REWARD, clip_norm=market.spec.privacy.clip_norm,
        clip_slack=encoding_slack(params.size, market.spec.encoding.precision_bits), reference=reference,
        along_bound=round_along_bound(market.spec, params, market.x_val, market.y_val))
    return valuation, {by_address[line.address]: line.amount for line in valuation.contributors}


def run_market(market: Market, setting: Setting, rounds: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    params = model_from_spec(market.spec).get_params()
    model = model_from_spec(market.spec)
    paid: dict[str, Any] = {"honest": 0, "honest_total": 0, "free": 0, "free_total": 0, "second_wallet": []}
    for _ in range(rounds):
        updates = {o: owner_update(market, params, o, setting, rng) for o in HONEST}
        typical = float(np.median([np.linalg.norm(u) for u in updates.values()]))
        noise = rng.normal(size=params.size)
        updates["free_rider"] = quantise(noise * typical / np.linalg.norm(noise))
        order = [str(o) for o in rng.permutation(list(updates))]
        scorer = ValidationScorer(market.spec, market.x_val, market.y_val)
        reference = reference_update(market.spec, params, market.x_val, market.y_val)
        valuation, amounts = value_market(market, params, updates, order, scorer, reference)
        # the first owner's file trained again in a second wallet: with noise drawn afresh (it
        # must be secret) the update is not a copy; the pair's pay / the owner's alone
        second = {**updates, "second_wallet": owner_update(market, params, HONEST[0], setting, rng)}
        _, amounts_2 = value_market(market, params, second, [*order, "second_wallet"], scorer, reference)
        pair = amounts_2.get(HONEST[0], 0) + amounts_2.get("second_wallet", 0)
        if amounts.get(HONEST[0], 0) > 0 or pair > 0:
            paid["second_wallet"].append(pair / amounts[HONEST[0]] if amounts.get(HONEST[0], 0) > 0 else float("inf"))
        for o in HONEST:
            paid["honest_total"] += 1
            paid["honest"] += int(amounts.get(o, 0) > 0)
        paid["free_total"] += 1
        paid["free"] += int(amounts.get("free_rider", 0) > 0)
        params = valuation.next_params
    model.set_params(params)
    return {"accuracy": model.accuracy(market.x_test, market.y_test), **paid}


def run(quick: bool = False, datasets: tuple[str, ...] | None = None, splits: int | None = None,
        rounds: int | None = None) -> dict[str, Any]:
    names = datasets or (DEMO if quick else (*DEMO, *MORE))
    n_splits = splits or (2 if quick else 5)
    n_rounds = rounds or (2 if quick else 3)
    start = time.perf_counter()
    markets = {(n, s): build_market(n, s) for n in names for s in range(n_splits)}
    out_settings = []
    baseline: dict[tuple[str, int], float] = {}
    for setting in settings(quick):
        per: dict[str, dict[str, list[float]]] = {n: {"acc": [], "drop": [], "h": [], "f": [], "eps": [], "sw": []}
                                                  for n in names}
        for (name, split), market in markets.items():
            per[name]["eps"] += [setting.epsilon(market.spec, len(market.parts[o][1])) for o in HONEST]
            result = run_market(market, setting, n_rounds, seed=1000 + split)
            if setting.mechanism == NO_NOISE:
                baseline[(name, split)] = result["accuracy"]
            per[name]["acc"].append(result["accuracy"])
            per[name]["drop"].append(100 * (baseline[(name, split)] - result["accuracy"]))
            per[name]["h"].append(result["honest"] / result["honest_total"])
            per[name]["f"].append(result["free"] / result["free_total"])
            per[name]["sw"] += result["second_wallet"]
        pooled = {k: float(np.mean([v for n in names for v in per[n][k]])) for k in ("acc", "drop", "h", "f")}
        eps = max(v for n in names for v in per[n]["eps"])
        eps_min = min(v for n in names for v in per[n]["eps"])
        out_settings.append({
            "name": setting.name, "mechanism": setting.mechanism, "default": setting.is_default,
            "parameters": setting.parameters(), "epsilon": finite(eps), "epsilon_min": finite(eps_min),
            "accuracy": pooled["acc"], "accuracy_drop_points": pooled["drop"],
            "honest_paid_fraction": pooled["h"], "free_rider_paid_fraction": pooled["f"],
            **second_wallet_ratios([v for n in names for v in per[n]["sw"]]),
            "per_dataset": {n: {"accuracy": float(np.mean(per[n]["acc"])),
                                "epsilon": finite(max(per[n]["eps"])),
                                "accuracy_drop_points": float(np.mean(per[n]["drop"])),
                                "honest_paid_fraction": float(np.mean(per[n]["h"])),
                                "free_rider_paid_fraction": float(np.mean(per[n]["f"]))}
                            for n in names},
        })
    return {"mode": "quick" if quick else "full", "datasets": list(names), "splits": n_splits,
            "rounds": n_rounds, "delta": DELTA, "settings": out_settings,
            "seconds": time.perf_counter() - start, "machine": machine()}


def second_wallet_ratios(ratios: list[float]) -> dict[str, float | None]:
    """The pair (an owner and its file trained again in a second wallet) / the owner alone:
    median and max over rounds (None: infinite, the owner alone was paid 0; both None when
    neither was ever paid)."""
    if not ratios:
        return {"second_wallet_pair_median_ratio": None, "second_wallet_pair_max_ratio": None}
    return {"second_wallet_pair_median_ratio": finite(float(np.median(ratios))),
            "second_wallet_pair_max_ratio": finite(max(ratios))}


def finite(value: float) -> float | None:
    """JSON has no infinity: None stands for epsilon = inf (no noise)."""
    return float(value) if np.isfinite(value) else None


def table(results: dict[str, Any]) -> str:
    lines = ["| setting | ε (one contribution) | accuracy | drop (points) | honest paid | free rider paid "
             "| same file, second wallet: pair / one, median (max) |",
             "|---|---|---|---|---|---|---|"]
    for s in results["settings"]:
        eps = "∞" if s["epsilon"] is None else (
            f"{s['epsilon_min']:.2f}-{s['epsilon']:.2f}" if s["epsilon"] - s["epsilon_min"] > 0.005
            else f"{s['epsilon']:.2f}")
        name = s["name"] + (" **default**" if s["default"] else "")
        lines.append(f"| {name} | {eps} | {100 * s['accuracy']:.1f} % | {s['accuracy_drop_points']:.1f} | "
                     f"{100 * s['honest_paid_fraction']:.0f} % | {100 * s['free_rider_paid_fraction']:.0f} % | "
                     f"{_ratio(s['second_wallet_pair_median_ratio'])} ({_ratio(s['second_wallet_pair_max_ratio'])}) |")
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Privacy settings on real demo markets.")
    parser.add_argument("--quick", action="store_true", help="a small version (under two minutes)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--datasets", help="comma-separated: " + ",".join((*DEMO, *MORE)))
    parser.add_argument("--splits", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args(argv)
    datasets = tuple(args.datasets.split(",")) if args.datasets else None
    results = run(args.quick, datasets, args.splits, args.rounds)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True, allow_nan=False))
    else:
        print(table(results))
        emit("Run", {"mode": results["mode"], "splits": results["splits"], "rounds": results["rounds"],
                     "seconds": results["seconds"]}, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
