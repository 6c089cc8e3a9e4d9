"""The demo markets the fairness and privacy benchmarks share: the tables, the bounties'
training settings, and one split of a table into validation, test and the owners' pool
with the bounty spec `post` would publish for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from practitioner.post import calibrated_clip_norm
from trainer.spec import BountySpec
from trainer.testing import make_spec, test_keypair

ENCODING_STEP = 2.0**-16  # precision_bits 16: the fixed-point round trip of the blobs
TRAINING = {  # as the demo specs (resources/demo); iris like wine, diabetes like breast cancer
    "breast_cancer": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
                      "seed": 1, "l2": 0.0},
    "wine": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 10, "batch_size": 32, "seed": 1,
             "l2": 0.0},
    "digits": {"optimizer": "sgd", "learning_rate": 0.05, "epochs": 5, "batch_size": 32, "seed": 1,
               "l2": 0.0},
    "iris": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 10, "batch_size": 32, "seed": 1,
             "l2": 0.0},
    "diabetes": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
                 "seed": 1, "l2": 0.0},
    "breast_cancer_4": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
                        "seed": 1, "l2": 0.0},
    # tables statsmodels ships (`pip install statsmodels`; not a dependency): never looked at
    # while any rule or threshold was chosen, trained like diabetes
    "anes96": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
               "seed": 1, "l2": 0.0},
    "fair": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
             "seed": 1, "l2": 0.0},
    # a multiclass table (the first two are binary), trained like the multiclass demo (wine)
    "modechoice": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 10, "batch_size": 32,
                   "seed": 1, "l2": 0.0},
    # 303 California school districts (added after the proportional steps; the size of the
    # issue's market), trained like diabetes
    "star98": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
               "seed": 1, "l2": 0.0},
    # the Palmer penguins (the palmerpenguins package ships the table; added after stop 23 and
    # run once): 333 penguins, 4 measurements, 3 species, the table of issue 9's market,
    # trained like the multiclass demo (wine)
    "penguins": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 10, "batch_size": 32,
                 "seed": 1, "l2": 0.0},
    # statsmodels' RAND health insurance experiment (added at stop 31, after the rules of stops
    # 1-30, and run once): 20,190 person-years, did the person see a doctor (any outpatient
    # visit) from coinsurance, deductible, income, family size, health and chronic disease;
    # a weak signal (69 % saw one), trained like diabetes
    "randhie": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "batch_size": 32,
                "seed": 1, "l2": 0.0},
}
STATSMODELS_TABLES = ("anes96", "fair", "modechoice", "star98")
# tables other test-extra packages ship (held out like the statsmodels ones)
PACKAGED_TABLES = ("penguins",)
# added after the others (last, so the others' splits draw what they drew before)
LATER_TABLES = ("randhie",)
HELD_OUT_TABLES = (*STATSMODELS_TABLES, *PACKAGED_TABLES, *LATER_TABLES)
KNOWN_TABLES = tuple(TRAINING)


def _load_penguins() -> tuple[np.ndarray, np.ndarray]:
    """Palmer penguins without missing values: bill length and depth, flipper length, body
    mass; the species (Adelie, Chinstrap, Gentoo) as 0-2."""
    try:
        from palmerpenguins import load_penguins
    except ImportError as exc:
        raise SystemExit("the penguins table ships with palmerpenguins: pip install palmerpenguins") from exc
    data = load_penguins().dropna()  # as drop_na=True, without its inplace call pandas deprecates
    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    species = sorted(set(data["species"]))
    return (data[columns].to_numpy(dtype=np.float64),
            data["species"].map(species.index).to_numpy().astype(np.int64))


def _load_statsmodels(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from statsmodels import datasets
    except ImportError as exc:
        raise SystemExit(f"the {name} table ships with statsmodels: pip install statsmodels") from exc
    if name == "anes96":  # 1996 US election survey: voted Dole (1) or Clinton (0)
        data = datasets.anes96.load_pandas().data
        return (data.drop(columns=["vote", "logpopul"]).to_numpy(dtype=np.float64),
                data["vote"].to_numpy().astype(np.int64))
    if name == "modechoice":  # 210 Australian travellers: air, train, bus or car (4 classes)
        return _mode_choice(datasets.modechoice.load_pandas().data)
    if name == "star98":  # 1998 school districts: more of its pupils above the national math
        data = datasets.star98.load_pandas().data  # median than the median district (1) or not
        share = (data["NABOVE"] / (data["NABOVE"] + data["NBELOW"])).to_numpy()
        return (data.drop(columns=["NABOVE", "NBELOW"]).to_numpy(dtype=np.float64),
                (share > np.median(share)).astype(np.int64))
    if name == "randhie":  # RAND health insurance experiment: any outpatient visit (1) or none
        data = datasets.randhie.load_pandas().data
        return (data.drop(columns=["mdvis"]).to_numpy(dtype=np.float64),
                (data["mdvis"].to_numpy() > 0).astype(np.int64))
    data = datasets.fair.load_pandas().data  # 1974 survey: any extramarital affair (1) or none
    return (data.drop(columns=["affairs"]).to_numpy(dtype=np.float64),
            (data["affairs"].to_numpy() > 0).astype(np.int64))


def _mode_choice(data: object) -> tuple[np.ndarray, np.ndarray]:
    """One row per traveller (the table has one per traveller and mode): household income,
    party size, and each mode's terminal time, in-vehicle cost, in-vehicle time and
    generalised cost (18 columns); the label is the mode chosen (0-3)."""
    table = data.sort_values(["individual", "mode"]).to_numpy(dtype=np.float64)  # type: ignore[attr-defined]
    # columns: individual, mode, choice, ttme, invc, invt, gc, hinc, psize; 4 rows per traveller
    per = table.reshape(-1, 4, table.shape[1])
    x = np.concatenate([per[:, 0, 7:9], per[:, :, 3:7].reshape(len(per), -1)], axis=1)
    y = np.argmax(per[:, :, 2], axis=1).astype(np.int64)
    return x, y


# A table named by where it is, beside the names above (`--datasets csv:PATH:LABEL`,
# `statsmodels:NAME[:LABEL]`, `sklearn:NAME`): a practitioner's own file, or any table an
# installed package ships, measured before anyone chose anything on it.
TABLE_SOURCES = ("csv:", "statsmodels:", "sklearn:")
MAX_ONE_HOT = 20  # a text column with more distinct values (ids, free text) is left out
MAX_CLASS_VALUES = 10  # a numeric label with more distinct values is cut at its median


class TableError(ValueError):
    """A named table that cannot be read or used: one line for whoever named it."""


def is_named_table(name: str) -> bool:
    return name.startswith(TABLE_SOURCES)


def table_arrays(frame: Any, label: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and classes from a pandas frame, as a practitioner would post it: numeric
    columns as they are, text columns of up to MAX_ONE_HOT values one-hot, other text left
    out; rows missing the label or a feature dropped; a numeric label of more than
    MAX_CLASS_VALUES values cut at its median (1 above it), other labels' values the classes
    in sorted order."""
    import pandas as pd

    if label not in frame.columns:
        raise TableError(f"{source}: no column {label!r} (its columns: "
                         f"{', '.join(map(str, frame.columns))})")
    frame = frame[frame[label].notna()]
    columns = []
    for name in frame.columns:
        if name == label:
            continue
        cells = frame[name]
        numbers = pd.to_numeric(cells, errors="coerce")
        if cells.notna().any() and numbers.notna().sum() == cells.notna().sum():
            columns.append(numbers.astype(np.float64).rename(str(name)))
        elif cells.nunique() <= MAX_ONE_HOT:
            dummies = pd.get_dummies(cells.astype("string"), prefix=str(name), dtype=np.float64)
            columns.extend(dummies[c].where(cells.notna()) for c in dummies.columns)
    if not columns:
        raise TableError(f"{source}: no feature column besides the label {label!r}")
    features = pd.concat(columns, axis=1)
    keep = features.notna().all(axis=1).to_numpy()
    x = features.to_numpy(dtype=np.float64)[keep]
    target = frame[label][keep]
    numbers = pd.to_numeric(target, errors="coerce")
    if numbers.notna().all() and numbers.nunique() > MAX_CLASS_VALUES:
        y = (numbers.to_numpy() > np.median(numbers.to_numpy())).astype(np.int64)
    else:
        values = sorted(set(target.tolist()), key=lambda v: (str(type(v)), v))
        y = np.array([values.index(v) for v in target.tolist()], dtype=np.int64)
    if len(set(y.tolist())) < 2:
        raise TableError(f"{source}: its label {label!r} has one class in the rows kept")
    return x, y


def _load_named_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    kind, _, rest = name.partition(":")
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas comes with statsmodels
        raise TableError("named tables are read with pandas: pip install pandas") from exc
    if kind == "csv":
        path, _, label = rest.rpartition(":")
        if not path or not label:
            raise TableError(f"{name}: name a CSV file and its label column, csv:PATH:LABEL")
        try:
            frame = pd.read_csv(path, sep=None, engine="python")  # sniffs , ; or tab
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise TableError(f"{path}: not a readable CSV file ({exc})") from None
        return table_arrays(frame, label, path)
    if kind == "statsmodels":
        table, _, label = rest.partition(":")
        try:
            from statsmodels import datasets
        except ImportError as exc:
            raise TableError("statsmodels tables need statsmodels: pip install statsmodels") from exc
        module = getattr(datasets, table, None)
        if module is None or not hasattr(module, "load_pandas"):
            raise TableError(f"statsmodels ships no table {table!r}")
        loaded = module.load_pandas()
        endog = getattr(loaded, "endog_name", None)
        label = label or (endog if isinstance(endog, str) else "")  # one column, not a list
        if not label:
            raise TableError(f"statsmodels {table} names no label: statsmodels:{table}:COLUMN "
                             f"(its columns: {', '.join(map(str, loaded.data.columns))})")
        return table_arrays(loaded.data, label, f"statsmodels {table}")
    from sklearn import datasets as sk_datasets

    loader = getattr(sk_datasets, f"load_{rest}", None)
    if loader is None:
        raise TableError(f"scikit-learn ships no table {rest!r} (its load_* functions)")
    bunch = loader(as_frame=True)
    frame = bunch.frame if bunch.frame is not None else bunch.data.assign(target=bunch.target)
    target = "target" if "target" in frame.columns else str(bunch.target.name)
    return table_arrays(frame, target, f"scikit-learn {rest}")


def training_for(name: str, n_classes: int) -> dict[str, Any]:
    """The named table's training settings; a table named by where it is trains like the
    demo bounties (breast cancer's when binary, wine's otherwise)."""
    if name in TRAINING:
        return TRAINING[name]
    return TRAINING["breast_cancer" if n_classes == 2 else "wine"]


_LOADED: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Table `name` as (features, classes), read once per process (a CSV file again when it
    changed); the arrays are read-only, shared by every split that permutes them."""
    key: tuple[object, ...] = (name,)
    if name.startswith("csv:"):
        path = name[4:].rpartition(":")[0]
        try:
            stat = Path(path).stat()
            key = (name, stat.st_mtime_ns, stat.st_size)
        except OSError:
            return _read(name)  # said by the reader
    if key not in _LOADED:
        x, y = _read(name)
        x.flags.writeable = False
        y.flags.writeable = False
        _LOADED[key] = (x, y)
    return _LOADED[key]


def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    if is_named_table(name):
        return _load_named_table(name)
    if name == "penguins":
        return _load_penguins()
    if name in STATSMODELS_TABLES or name in LATER_TABLES:
        return _load_statsmodels(name)
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "diabetes": datasets.load_diabetes,
        "breast_cancer_4": datasets.load_breast_cancer,
    }.get(name)
    if loader is None:
        raise TableError(f"no table named {name!r}: name one of {', '.join(KNOWN_TABLES)}, or "
                         "csv:PATH:LABEL, statsmodels:NAME[:LABEL] or sklearn:NAME")
    x, y = loader(return_X_y=True)
    if name == "breast_cancer_4":  # its first 4 columns: a 5-parameter model, the smallest case
        x = x[:, :4]
    if name == "diabetes":  # a regression table: disease progression above its median
        y = (y > np.median(y)).astype(np.int64)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def quantise(update: np.ndarray) -> np.ndarray:
    """What the practitioner decrypts: the update rounded to the encoding's fixed-point step."""
    return np.round(update / ENCODING_STEP) * ENCODING_STEP


@dataclass(frozen=True)
class MarketSplit:
    """A table shuffled and cut: 20 % validation, 25 % test, the rest the owners' pool; all
    rows standardised by the validation set's mean and std, as the spec says."""

    spec: BountySpec
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pool_x: np.ndarray
    pool_y: np.ndarray


def split_market(name: str, rng: np.random.Generator) -> MarketSplit:
    """Table `name` shuffled by `rng` and split, with the spec `post` would publish (the
    clip norm calibrated on the validation set)."""
    x, y = load(name)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    n_val, n_test = int(0.2 * len(y)), int(0.25 * len(y))
    x_val, y_val = x[:n_val], y[:n_val]
    x_test, y_test = x[n_val : n_val + n_test], y[n_val : n_val + n_test]
    pool_x, pool_y = x[n_val + n_test :], y[n_val + n_test :]
    mean, std = x_val.mean(axis=0), x_val.std(axis=0)
    std[std <= 1e-12] = 1.0  # constant columns (blank pixels), as post does
    scale = lambda a: (a - mean) / std  # noqa: E731
    classes = sorted(set(int(v) for v in y))
    public_key, _ = test_keypair(512)
    spec = make_spec(
        x.shape[1], classes=classes, public_key=public_key,
        **{"standardize.mean": mean.tolist(), "standardize.std": std.tolist(),
           "model.type": "logistic" if len(classes) == 2 else "softmax",
           "training": training_for(name, len(classes)), "encoding.clip": 2.0, "schema.min_rows": 1},
    )
    xv = scale(x_val)
    raw = spec.to_json()
    raw["privacy"]["clip_norm"] = calibrated_clip_norm(spec, xv, y_val)  # what `post` fills in
    spec = BountySpec.from_json(raw)
    return MarketSplit(spec, xv, y_val, scale(x_test), y_test, scale(pool_x), pool_y)
