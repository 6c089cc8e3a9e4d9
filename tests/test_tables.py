"""Bring your own files (issue 11): real tables in every format, mapped to a bounty's schema.

The fixtures are scikit-learn's wine data with its real column names, written by the
libraries people's programs use (tests/table_fixtures.py); the wallet's demo wine bounty asks
for `od280_od315_of_diluted_wines` and `label`, the export says `od280/od315_of_diluted_wines`
and `target`, with extra columns and another column order.
"""

from __future__ import annotations

import contextlib
import json
import os

import numpy as np
import pytest

from tests.table_fixtures import (
    DEMO_SPEC,
    WRITERS,
    sklearn_table,
    wine,
    wine_spec,
    write_csv,
    write_jsonl,
    write_xlsx,
)
from trainer.data import LoadOptions, inspect_file, load_dataset, preview_rows
from trainer.errors import DataError, TrainingCancelled
from trainer.mapping import LabelResolver, normalise, propose_mapping
from trainer.table_readers import open_table


@pytest.fixture(scope="module")
def spec():
    return wine_spec()


@pytest.fixture(scope="module")
def expected(spec):
    """X standardised and y, straight from scikit-learn, for comparing every format."""
    _names, X, y = wine()
    mean = np.asarray(spec.standardize.mean)
    std = np.asarray(spec.standardize.std)
    return (X - mean) / std, y


def test_normalise_matches_real_names():
    assert normalise("od280/od315_of_diluted_wines") == "od280_od315_of_diluted_wines"
    assert normalise("  Malic Acid (g/L) ") == "malic_acid"
    assert normalise("Color-Intensity [AU]") == "color_intensity"
    assert normalise("TOTAL_PHENOLS") == "total_phenols"


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_of_the_sklearn_export_loads_the_same(tmp_path, spec, expected, fmt):
    header, rows = sklearn_table()
    path = WRITERS[fmt](tmp_path / f"wine.{fmt}", header, rows)
    options = LoadOptions(sheet="Data" if fmt == "xlsx" else None)
    before = sorted(os.listdir(tmp_path))
    dataset = load_dataset([path], spec, options)
    assert sorted(os.listdir(tmp_path)) == before  # reading writes nothing
    assert np.allclose(dataset.X, expected[0]) and dataset.y.tolist() == expected[1].tolist()
    report = dataset.reports[0]
    assert report.rows_read == report.rows_used == 178 and not report.dropped
    assert set(report.mapping.extras) == {"id", "notes", "région"}
    how = {m.spec_column: (m.file_column, m.how) for m in report.mapping.matches}
    assert how["od280_od315_of_diluted_wines"] == ("od280/od315_of_diluted_wines", "normalised")
    assert how["label"] == ("target", "label name")
    summary = dataset.summary(spec)
    assert "178 rows read, 178 used" in summary and "not used: " in summary
    assert "per class 0: 59, 1: 71, 2: 48" in summary


@pytest.mark.parametrize(
    ("encoding", "delimiter", "decimal_comma", "newline"),
    [
        ("utf-8", ",", False, "\n"),
        ("utf-8-sig", ",", False, "\r\n"),  # Excel's "CSV UTF-8": a BOM and Windows lines
        ("utf-16", "\t", False, "\r\n"),  # Excel's "Unicode text"
        ("latin-1", ";", True, "\n"),  # a European locale: semicolons and decimal commas
        ("utf-8", "|", False, "\n"),
    ],
)
def test_csv_dialects_and_encodings(tmp_path, spec, expected, encoding, delimiter,
                                    decimal_comma, newline):
    header, rows = sklearn_table()
    path = write_csv(tmp_path / "wine.csv", header, rows, encoding=encoding, delimiter=delimiter,
                     decimal_comma=decimal_comma, newline=newline)
    table = open_table(path)
    assert table.decimal_comma == decimal_comma and "région" in table.columns
    dataset = load_dataset([path], spec)
    assert np.allclose(dataset.X, expected[0]) and dataset.y.tolist() == expected[1].tolist()


def test_na_empty_and_non_numeric_cells_are_dropped_and_counted(tmp_path, spec):
    header, rows = sklearn_table()
    col = {h: i for i, h in enumerate(header)}
    for r in range(11):
        rows[r][col["alcohol"]] = "NA"
    rows[20][col["magnesium"]] = ""
    rows[21][col["hue"]] = "n/a"
    rows[30][col["proline"]] = "about 700"
    rows[40][col["target"]] = ""
    path = write_csv(tmp_path / "wine.csv", header, rows)
    dataset = load_dataset([path], spec)
    report = dataset.reports[0]
    assert report.rows_read == 178 and report.rows_used == 178 - 15 == dataset.n_rows
    assert report.dropped == {
        "missing value in 'alcohol'": 11, "missing value in 'magnesium'": 1,
        "missing value in 'hue'": 1, "not a finite number in 'proline'": 1, "no label": 1}
    assert "dropped 11 row(s): missing value in 'alcohol'" in dataset.summary(spec)
    with pytest.raises(DataError) as info:  # strict refuses, naming each cell
        load_dataset([path], spec, LoadOptions(strict=True))
    text = str(info.value)
    assert "wine.csv line 2, column 'alcohol': 'NA' is a missing value." in text
    assert "line 32, column 'proline': 'about 700' is not a finite number" in text
    assert "(15 problem(s))" in text


def test_spec_policies_fill_with_a_constant_mean_or_median(tmp_path):
    spec = wine_spec(**{"schema.columns": [
        {"name": "alcohol", "type": "float", "missing": "mean"},
        {"name": "malic_acid", "type": "float", "missing": "median"},
        {"name": "ash", "type": "float", "missing": "fill", "fill": 2.5},
        *json.loads(DEMO_SPEC.read_text())["schema"]["columns"][3:]]})
    header, rows = sklearn_table()
    col = {h: i for i, h in enumerate(header)}
    alcohol = [r[col["alcohol"]] for r in rows[2:]]
    malic = [r[col["malic_acid"]] for r in rows[1:]]
    rows[0][col["alcohol"]] = rows[1][col["alcohol"]] = "NA"
    rows[0][col["malic_acid"]] = None
    rows[5][col["ash"]] = "?"
    dataset = load_dataset([write_csv(tmp_path / "w.csv", header, rows)], spec,
                           LoadOptions(strict=True))  # strict refuses drops, not the spec's fills
    raw = dataset.X * np.asarray(spec.standardize.std) + np.asarray(spec.standardize.mean)
    assert dataset.n_rows == 178
    assert raw[0, 0] == pytest.approx(np.mean(alcohol)) and raw[1, 0] == pytest.approx(np.mean(alcohol))
    assert raw[0, 1] == pytest.approx(np.median(malic))
    assert raw[5, 2] == pytest.approx(2.5)
    report = dataset.reports[0]
    assert report.filled == {"'alcohol' with your column's mean": 2,
                             "'malic_acid' with your column's median": 1,
                             "'ash' with the bounty's value 2.5": 1}


def test_string_labels_case_insensitive_then_the_owners_table(tmp_path):
    names, X, y = wine()
    spec = wine_spec(classes=["Barolo", "Grignolino", "Barbera"], **{"task":
                     "multiclass_classification"})
    labels = np.array(["barolo", "GRIGNOLINO", "class 2"])[y].tolist()
    header = [*names, "cultivar"]
    rows = [[*x, lab] for x, lab in zip(X.tolist(), labels, strict=True)]
    path = write_csv(tmp_path / "w.csv", header, rows)
    with pytest.raises(DataError) as info:  # 'cultivar' is no usual label name: ask
        load_dataset([path], spec)
    assert "no label column for 'label'" in str(info.value)
    chosen = LoadOptions(chosen={"label": "cultivar"})
    with pytest.raises(DataError) as info:  # 'class 2' is not a class: per row, and a summary
        load_dataset([path], spec, chosen)
    text = str(info.value)
    assert "line 132, label 'label': 'class 2' is not one of the classes" in text
    assert "label values that are not classes: 'class 2' (48 rows)" in text
    dropped = load_dataset([path], spec, LoadOptions(chosen={"label": "cultivar"},
                                                     drop_unknown_labels=True))
    assert dropped.n_rows == 130 and dropped.reports[0].dropped == {
        "label not one of the classes": 48}
    mapped = load_dataset([path], spec, LoadOptions(chosen={"label": "cultivar"},
                                                    label_values={"class 2": "barbera"}))
    assert mapped.y.tolist() == y.tolist()
    with pytest.raises(DataError, match="'Nebbiolo' .* is not one of the classes"):
        LabelResolver(spec, {"x": "Nebbiolo"})


def test_label_name_is_used_only_when_its_values_fit(spec):
    columns = ["alcohol", "malic_acid", "target", "class"]
    sample = {"target": [0, 1, 2, 1], "class": ["red", "white", "red", "red"]}
    proposal = propose_mapping(columns, spec, sample=sample)
    assert proposal.label.file_column == "target" and "class" in proposal.extras
    both = propose_mapping(columns, spec, sample={**sample, "class": [2, 2, 0, None]})
    assert both.label.file_column is None and both.label.candidates == ("target", "class")
    assert "label column 'label' could be any of 'target', 'class'; choose one." in \
        both.problems("f.csv")[0]


def test_aliases_ambiguity_and_owner_choices(tmp_path):
    spec = wine_spec(**{"schema.columns": [
        {"name": "alcohol", "type": "float", "aliases": ["alc", "ABV"]},
        *json.loads(DEMO_SPEC.read_text())["schema"]["columns"][1:]],
        "schema.label_aliases": ["cultivar"]})
    names, _X, _y = wine()
    columns = ["ABV (%)", *names[1:], "Cultivar", "Malic Acid"]
    proposal = propose_mapping(columns, spec)
    how = {m.spec_column: (m.file_column, m.how, m.candidates) for m in proposal.matches}
    assert how["alcohol"] == ("ABV (%)", "alias", ())
    assert how["label"] == ("Cultivar", "alias", ())
    assert how["malic_acid"] == ("malic_acid", "exact", ())  # exact wins over normalised
    assert proposal.extras == ("Malic Acid",)
    two = propose_mapping(["alc", "ABV", *names[1:], "y"], spec, sample={"y": [0, 1]})
    assert two.features[0].file_column is None and two.features[0].candidates == ("alc", "ABV")
    chosen = propose_mapping(["alc", "ABV", *names[1:], "y"], spec, chosen={"alcohol": "ABV"},
                             sample={"y": [0, 1]})
    assert chosen.features[0].file_column == "ABV" and chosen.features[0].how == "chosen"
    assert not chosen.unresolved and chosen.extras == ("alc",)
    with pytest.raises(DataError, match="'alcool' .* is not a column of the file"):
        propose_mapping(columns, spec, chosen={"alcohol": "alcool"})
    with pytest.raises(DataError, match="'colour' is not a column of this bounty's schema"):
        propose_mapping(columns, spec, chosen={"colour": "ABV (%)"})
    with pytest.raises(DataError, match="chosen for two"):
        propose_mapping(columns, spec, chosen={"alcohol": "ABV (%)", "ash": "ABV (%)"})


def test_preview_shows_rows_as_they_will_be_used(tmp_path, spec):
    header, rows = sklearn_table()
    rows[0][header.index("hue")] = "NA"
    path = write_xlsx(tmp_path / "w.xlsx", header, rows)
    table, proposal = inspect_file(path, spec, LoadOptions(sheet="Data"))
    preview = preview_rows(table, proposal, spec, n=3)
    assert len(preview) == 3 and len(preview[0]) == 14
    assert preview[0][0] == "14.23" and preview[0][10] == "(missing)" and preview[0][-1] == "0"
    assert open_table(path).columns == header  # by default the first sheet with rows of data
    assert open_table(path, sheet="Notes").columns == ["this sheet has notes, not data"]
    assert open_table(path, sheet="2").describe() == ".xlsx, sheet 'Data'"
    with pytest.raises(DataError, match="no sheet named 'Sheet9' \\(sheets: Notes, Data\\)"):
        open_table(path, sheet="Sheet9")


MALFORMED = {
    "csv": (b"\x00\x01binary\x00\x00\x00\x00", "not a text file"),
    "xlsx": (b"PK\x03\x04 not a zip", "not a readable .xlsx file"),
    "ods": (b"PK\x03\x04 not a zip", "not a readable .ods file"),
    "parquet": (b"PAR1" + b"\x00" * 20 + b"PAR1", "not a readable Parquet file"),
    "jsonl": (b'{"alcohol": 1}\n{"alcohol": 2,\n', "line 2: not valid JSON"),
    "json": (b'{"alcohol": [1, 2]}', "expected a JSON array of objects"),
    "npz": (b"PK\x03\x04 not a zip", "not a readable .npz file"),
    "zip.npz": (b"PK\x05\x06" + b"\x00" * 18, "holds no arrays"),
}


@pytest.mark.parametrize("fmt", sorted(MALFORMED))
def test_a_malformed_file_of_each_format_is_one_clear_line(tmp_path, spec, fmt):
    content, message = MALFORMED[fmt]
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_dataset([path], spec)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"- bad.{fmt}") and message in lines[1]
    assert os.listdir(tmp_path) == [f"bad.{fmt}"]


def test_zip_bomb_and_deep_json_are_refused(tmp_path, spec, monkeypatch):
    import trainer.tables as tables

    header, rows = sklearn_table()
    path = write_xlsx(tmp_path / "w.xlsx", header, rows)
    monkeypatch.setattr(tables, "MAX_UNZIPPED_BYTES", 10_000)
    with pytest.raises(DataError, match="uncompresses to more than"):
        open_table(path)
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}\n")
    with pytest.raises(DataError, match="line 1: not valid JSON \\(JSON nested deeper"):
        open_table(deep)


def test_jsonl_keys_missing_in_some_lines_are_missing_values(tmp_path, spec):
    header, rows = sklearn_table(extra=False, reorder=False)
    path = write_jsonl(tmp_path / "w.jsonl", header, rows)
    lines = path.read_text().splitlines()
    obj = json.loads(lines[3])
    del obj["hue"]
    lines[3] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    dataset = load_dataset([path], spec)
    assert dataset.reports[0].dropped == {"missing value in 'hue'": 1}


def test_progress_and_cancel_between_blocks(tmp_path, spec, monkeypatch):
    import trainer.tables as tables

    header, rows = sklearn_table()
    path = write_csv(tmp_path / "w.csv", header, rows * 40)
    monkeypatch.setattr(tables, "BATCH_ROWS", 500)
    seen: list[float] = []
    load_dataset([path], spec, progress=lambda f, _m: seen.append(f))
    assert len(seen) >= 5 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    with pytest.raises(TrainingCancelled):
        load_dataset([path], spec, progress=lambda f, _m: seen.append(f),
                     should_stop=lambda: len(seen) > 8)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_damaged_files_of_each_format_only_raise_data_errors(tmp_path, spec, fmt):
    """A real file of each format with bytes flipped, cut or appended: every outcome is a
    loaded dataset or one DataError (never another exception)."""
    header, rows = sklearn_table()
    good = WRITERS[fmt](tmp_path / f"good.{fmt}", header, rows[:30]).read_bytes()
    rng = np.random.default_rng(11)
    for trial in range(int(os.environ.get("QUARRY_FUZZ_TRIALS", "25"))):
        data = bytearray(good)
        if trial % 3 == 0:
            data = data[: rng.integers(0, len(data))]
        else:
            for at in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
                data[at] = int(rng.integers(0, 256))
        path = tmp_path / f"bad{trial}.{fmt}"
        path.write_bytes(bytes(data))
        with contextlib.suppress(DataError):  # any other exception fails the test
            load_dataset([path], spec, LoadOptions(drop_unknown_labels=True))
