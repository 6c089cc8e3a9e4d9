"""ui/models.py: lazy paging, text search, predicates and sorting through the proxy."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from ui.models import PAGE_SIZE, Column, FilterProxy, RowTableModel

COLUMNS = [Column("N", lambda r: str(r["n"]), sort=lambda r: r["n"]),
           Column("Name", lambda r: r["name"])]


def _rows(count):
    return [{"n": i, "name": f"row {i}", "hash": f"0xabc{i:04d}"} for i in range(count)]


def test_pages_are_fetched_as_the_view_asks(qtbot):
    rows = _rows(PAGE_SIZE * 2 + 50)
    asked: list[tuple[int, int]] = []

    def fetch_page(offset, limit):
        asked.append((offset, limit))
        return rows[offset:offset + limit]

    model = RowTableModel(COLUMNS)
    model.set_pager(fetch_page)
    assert model.rowCount() == PAGE_SIZE and asked == [(0, PAGE_SIZE)]
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(400, 300)
    view.show()
    view.scrollToBottom()  # the view asks for more as it reaches the end
    qtbot.waitUntil(lambda: model.rowCount() > PAGE_SIZE, timeout=2000)
    model.fetch_all()
    assert model.rowCount() == len(rows) and not model.canFetchMore()
    assert asked[-1] == (PAGE_SIZE * 2, PAGE_SIZE)


def test_search_predicates_and_numeric_sort():
    model = RowTableModel(COLUMNS)
    model.set_rows(_rows(30))
    proxy = FilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(0, Qt.SortOrder.DescendingOrder)
    assert proxy.row(0)["n"] == 29  # numbers, not text: "29" after "3"
    proxy.set_search("ROW 2")
    assert sorted(proxy.row(i)["n"] for i in range(proxy.rowCount())) == [2] + list(range(20, 30))
    proxy.set_search("0xabc0007")  # any string field of the row, shown or not
    assert [proxy.row(i)["n"] for i in range(proxy.rowCount())] == [7]
    proxy.set_search("")
    proxy.set_predicate("even", lambda r: r["n"] % 2 == 0)
    proxy.set_predicate("small", lambda r: r["n"] < 10)
    assert sorted(proxy.row(i)["n"] for i in range(proxy.rowCount())) == [0, 2, 4, 6, 8]
    proxy.set_predicate("even", None)
    assert proxy.rowCount() == 10
