"""Real tables for the own-files tests: scikit-learn's wine data with its real column names
(`od280/od315_of_diluted_wines`, label `target`), written in every format the wallet reads.

Nothing here is a parser: CSV/TSV/JSON go through the standard library, .xlsx through openpyxl,
Parquet through pyarrow, .npz through numpy; .ods (which no installed package writes) is the
smallest OpenDocument spreadsheet: a zip with a mimetype and a content.xml of table rows.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from trainer.testing import make_spec

DEMO_SPEC = Path(__file__).resolve().parent.parent / "resources" / "demo" / "wine_spec.json"


def wine() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(scikit-learn's feature names, X, y) of the wine data set that ships with it."""
    from sklearn.datasets import load_wine

    data = load_wine()
    return list(data.feature_names), np.asarray(data.data), np.asarray(data.target)


def wine_spec(classes: list[Any] | None = None, **overrides: Any):
    """A spec with the demo wine bounty's schema (its column names, label `label`)."""
    schema = json.loads(DEMO_SPEC.read_text())["schema"]
    n = len(schema["columns"])
    return make_spec(n, classes if classes is not None else [0, 1, 2], **{
        "schema.columns": schema["columns"], "schema.label": "label", "schema.min_rows": 10,
        **overrides})


def rows_of(header: list[str], columns: list[list[Any]]) -> list[list[Any]]:
    return [list(r) for r in zip(*columns, strict=True)]


def sklearn_table(extra: bool = True, reorder: bool = True) -> tuple[list[str], list[list[Any]]]:
    """The wine data as scikit-learn names it, label `target`; with extra columns (an id, a
    note, a region) and the columns in another order when asked."""
    names, X, y = wine()
    header = [*names, "target"]
    columns: list[list[Any]] = [X[:, i].tolist() for i in range(X.shape[1])] + [y.tolist()]
    if extra:
        header = ["id", *header, "notes", "région"]
        columns = [list(range(1, len(y) + 1)), *columns, ["ok"] * len(y), ["Bordeaux"] * len(y)]
    if reorder:
        order = list(range(len(header)))[::-1]
        header = [header[i] for i in order]
        columns = [columns[i] for i in order]
    return header, rows_of(header, columns)


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *, encoding: str = "utf-8",
              delimiter: str = ",", decimal_comma: bool = False, newline: str = "\n") -> Path:
    def cell(v: Any) -> str:
        text = "" if v is None else str(v)
        return text.replace(".", ",") if decimal_comma and isinstance(v, float) else text

    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator=newline)
        writer.writerow(header)
        writer.writerows([[cell(v) for v in r] for r in rows])
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]], sheet: str = "Data",
               first_sheet: str | None = "Notes") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    if first_sheet:  # a chosen sheet: the data is not on the first one
        ws.title = first_sheet
        ws.append(["this sheet has notes, not data"])
        ws = book.create_sheet(sheet)
    else:
        ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    book.save(path)
    return path


def write_ods(path: Path, header: list[str], rows: list[list[Any]], sheet: str = "Data") -> Path:
    def cell(v: Any) -> str:
        if v is None:
            return "<table:table-cell/>"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (f'<table:table-cell office:value-type="float" office:value="{v!r}">'
                    f"<text:p>{v!r}</text:p></table:table-cell>")
        return (f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p>'
                "</table:table-cell>")

    body = "".join("<table:table-row>" + "".join(cell(v) for v in r) + "</table:table-row>"
                   for r in [header, *rows])
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{escape(sheet)}">{body}'
        "</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                    compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return path


def write_parquet(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*rows, strict=True))
    pq.write_table(pa.table({h: list(c) for h, c in zip(header, columns, strict=True)}), path,
                   row_group_size=50)
    return path


def write_jsonl(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dict(zip(header, r, strict=True))) + "\n")
    return path


def write_json(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.write_text(json.dumps([dict(zip(header, r, strict=True)) for r in rows]), "utf-8")
    return path


def write_npz(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    columns = list(zip(*rows, strict=True))
    np.savez(path, **{h: np.asarray(c) for h, c in zip(header, columns, strict=True)})
    return path


WRITERS = {
    "csv": write_csv, "xlsx": write_xlsx, "ods": write_ods, "parquet": write_parquet,
    "jsonl": write_jsonl, "json": write_json, "npz": write_npz,
}
