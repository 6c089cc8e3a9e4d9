"""The fairness benchmark on a table named by where it is (`--datasets csv:PATH:LABEL`,
`statsmodels:NAME[:LABEL]`, `sklearn:NAME`): a practitioner measures the valuation on its own
file, or on any table an installed package ships, before posting a bounty on it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine

from benchmarks import fairness
from benchmarks._markets import TableError, load, split_market


def wine_csv(path: Path, rows: slice = slice(None)) -> Path:
    """scikit-learn's wine as a practitioner's export: the cultivar by name, a region of
    three values (text), an id (text, unique), and a missing value in one row."""
    data = load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])
    regions = np.array(["north", "south", "east"])
    x, y = data.data[rows], data.target[rows]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([*data.feature_names, "region", "id", "cultivar"])
        for i, (row, label) in enumerate(zip(x, y, strict=True)):
            cells = [f"{v:.6g}" for v in row]
            if i == 3:
                cells[0] = "NA"
            out.writerow([*cells, regions[i % 3], f"w-{i:04d}", names[label]])
    return path


def test_a_csv_file_is_read_as_a_practitioner_would_post_it(tmp_path):
    path = wine_csv(tmp_path / "wine.csv")
    x, y = load(f"csv:{path}:cultivar")
    # 13 numbers and the region one-hot (3 values); the id (178 distinct texts) left out
    assert x.shape == (177, 16)  # the row with "NA" dropped
    wine = load_wine()
    kept = np.delete(np.arange(178), 3)
    assert np.allclose(x[:, :13], np.round(wine.data[kept], 4), rtol=1e-5)
    assert np.array_equal(x[:, 13:].sum(axis=1), np.ones(177))
    # classes are the label's values in sorted order: barbera, barolo, grignolino
    assert np.array_equal(y, np.array([1, 2, 0])[wine.target[kept]])


def test_a_numeric_label_of_many_values_is_cut_at_its_median(tmp_path):
    data = load_diabetes()
    path = tmp_path / "diabetes.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle, delimiter=";")  # the delimiter is sniffed
        out.writerow([*data.feature_names, "progression"])
        out.writerows([*row, t] for row, t in zip(data.data, data.target, strict=True))
    x, y = load(f"csv:{path}:progression")
    assert x.shape == (442, 10)
    assert np.array_equal(y, (data.target > np.median(data.target)).astype(np.int64))
    assert load("diabetes")[1].tolist() == y.tolist()  # as the benchmark's own diabetes


def test_tables_that_cannot_be_used_say_why_in_one_line(tmp_path, capsys):
    path = wine_csv(tmp_path / "wine.csv")
    with pytest.raises(TableError, match="no column 'label'.*cultivar"):
        load(f"csv:{path}:label")
    with pytest.raises(TableError, match="not a readable CSV file"):
        load(f"csv:{tmp_path / 'missing.csv'}:cultivar")
    with pytest.raises(TableError, match="csv:PATH:LABEL"):
        load(f"csv:{path}")
    with pytest.raises(TableError, match="statsmodels ships no table 'nosuch'"):
        load("statsmodels:nosuch")
    with pytest.raises(TableError, match="star98 names no label"):
        load("statsmodels:star98")  # two label columns: the caller names one
    with pytest.raises(TableError, match="no table named 'winee'"):
        load("winee")
    small = wine_csv(tmp_path / "small.csv", slice(0, 178, 3))  # 60 rows, one with "NA"
    with pytest.raises(TableError, match="59 usable rows leave 34 for the owners"):
        fairness.build_market(f"csv:{small}:cultivar", 0)
    # the command line: one line on stderr and exit status 2, no market run, no traceback
    assert fairness.main(["--datasets", f"wine,csv:{small}:cultivar", "--splits", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fairness: ") and "needs about 100 rows" in err and "\n" not in err


def test_a_statsmodels_table_with_its_own_label_and_one_named():
    x, y = load("statsmodels:anes96")  # its label: party identification, 7 values
    assert x.shape == (944, 10) and sorted(set(y.tolist())) == list(range(7))
    x, y = load("statsmodels:grunfeld:firm")  # 11 firms by name
    assert x.shape == (220, 4) and len(set(y.tolist())) == 11
    cut = split_market("statsmodels:grunfeld:firm", np.random.default_rng(0))
    assert cut.spec.model.n_classes == 11 and cut.spec.model.type == "softmax"
    assert cut.spec.training.epochs == 10  # a multiclass table trains like the wine demo


def test_the_benchmark_runs_a_market_on_the_practitioners_file(tmp_path):
    path = wine_csv(tmp_path / "wine.csv")
    name = f"csv:{path}:cultivar"
    a = fairness.build_market(name, 0)
    assert fairness.build_market(name, 0).y_val.tolist() == a.y_val.tolist()  # seeded by name
    assert fairness.build_market(name, 1).y_val.tolist() != a.y_val.tolist()
    result = fairness.run([name], splits=1)
    assert result["datasets"] == [name] and result["held_out"] == [name]
    json.dumps(result, allow_nan=False)
    # what holds on every table measured holds on this one's split too
    assert result["false_merge_rate"] == 0.0 and result["order_effect_max"] == 0.0
    assert result["copy_pair_max_ratio"] <= 1.1 and result["free_zero_max_share"] == 0.0
    row = result["per_dataset"][name]
    assert row["parameters"] == 3 * 17 and 0.0 < row["paid_share_mean"] <= 1.0


def test_a_csv_path_with_a_comma_is_named_whole_and_read_once(tmp_path, capsys):
    folder = tmp_path / "owners, 2026"
    folder.mkdir()
    small = wine_csv(folder / "small, rows.csv", slice(0, 178, 3))
    name = f"csv:{small}:cultivar"
    assert fairness.dataset_names(["wine,iris", name]) == ["wine", "iris", name]
    assert fairness.dataset_names(["wine,,iris,"]) == ["wine", "iris"]
    first = load(name)
    assert load(name) is first  # read once: every split permutes the same arrays
    with pytest.raises(ValueError):
        first[0][0, 0] = 1.0  # read-only, so no split can change another's table
    # the file rewritten: read again
    rows = small.read_text().splitlines()
    small.write_text("\n".join(rows[:-1]) + "\n")
    assert len(load(name)[1]) == len(first[1]) - 1
    # the command line names it whole: it is this table's own message, not "no table named"
    assert fairness.main(["--datasets", "wine", name, "--splits", "1"]) == 2
    err = capsys.readouterr().err
    assert "small, rows.csv" in err and "needs about 100 rows" in err
