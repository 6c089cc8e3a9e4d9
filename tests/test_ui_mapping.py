"""The mapping table of the contribution's file step, offscreen (issue 11)."""

from __future__ import annotations

from tests.table_fixtures import sklearn_table, wine_spec, write_csv
from trainer.data import LoadOptions
from ui.mapping_table import MappingTable
from wallet.column_maps import inspect_files


def test_mapping_table_shows_the_proposal_and_reads_back_choices(qtbot, tmp_path):
    spec = wine_spec()
    header, rows = sklearn_table()
    header[header.index("hue")] = "Hue"
    rows[0][header.index("proline")] = "NA"
    path = write_csv(tmp_path / "wine_export.csv", header, rows)
    [inspection] = inspect_files([path], spec, LoadOptions())
    table = MappingTable()
    qtbot.addWidget(table)
    table.resize(900, 640)
    table.show_file(inspection, spec)
    table.show()
    assert table.complete()
    chosen = table.chosen()
    assert chosen["od280_od315_of_diluted_wines"] == "od280/od315_of_diluted_wines"
    assert chosen["hue"] == "Hue" and chosen["label"] == "target"
    assert table.columns.item(11, 2).text() == "same name, other spelling"
    assert table.columns.item(13, 2).text() == "usual label name, values fit"
    assert "Not used" in table.extras.text() and "région" in table.extras.text()
    assert table.preview.rowCount() == 5 and table.preview.columnCount() == 14
    assert table.preview.item(0, 12).text() == "(missing)"
    assert table.preview.item(0, 13).text() == "0"
    assert not table.values.isVisible()
    table.grab().save(str(tmp_path / "mapping.png"))

    changes: list[int] = []
    table.changed.connect(lambda: changes.append(1))
    table._combos[-1].setCurrentText("notes")  # the owner picks another label column
    assert changes and table.chosen()["label"] == "notes"
    table._combos[0].setCurrentIndex(0)
    assert not table.complete() and "alcohol" not in table.chosen()

    table.set_unknown_labels(["ok"], list(spec.schema.classes))
    assert table.values.isVisible() and table.label_values() == {}
    table._value_combos["ok"].setCurrentText("2")
    assert table.label_values() == {"ok": "2"}
    table.set_unknown_labels(["ok", "bad"], list(spec.schema.classes))  # choices are kept
    assert table.label_values() == {"ok": "2"}
