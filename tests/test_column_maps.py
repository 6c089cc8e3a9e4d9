"""The owner's column mapping is remembered per bounty and file, and reused (issue 11)."""

from __future__ import annotations

import pytest

from tests.table_fixtures import sklearn_table, wine_spec, write_csv
from trainer.data import load_dataset
from trainer.errors import DataError
from wallet.column_maps import ColumnMap, forget, load_options, recall, remember, remember_used
from wallet.store import Store


def test_a_confirmed_mapping_is_reused_for_the_same_bounty_and_file(tmp_path):
    spec = wine_spec()
    header, rows = sklearn_table()
    header[header.index("target")] = "cultivar"  # not a usual label name: the owner chooses
    path = write_csv(tmp_path / "wine.csv", header, rows)
    store = Store(tmp_path / "home")
    with pytest.raises(DataError, match="no label column for 'label'"):
        load_dataset([path], spec, load_options([path], store, spec.spec_hash))
    options = load_options([path], store, spec.spec_hash, chosen={"label": "cultivar"})
    dataset = load_dataset([path], spec, options)
    remember_used(store, spec.spec_hash, 7, dataset, options)
    saved = recall(store, spec.spec_hash, tmp_path / "." / "wine.csv")  # the same file
    assert saved is not None and saved.columns["label"] == "cultivar"
    assert saved.columns["od280_od315_of_diluted_wines"] == "od280/od315_of_diluted_wines"
    again = load_dataset([path], spec, load_options([path], store, spec.spec_hash))
    assert again.n_rows == 178 and again.reports[0].mapping.label.how == "remembered"
    assert recall(store, wine_spec(classes=[0, 1, 2], title="Other").spec_hash, path) is None
    forget(store, spec.spec_hash, path)
    assert recall(store, spec.spec_hash, path) is None


def test_a_stale_remembered_column_is_ignored_and_choices_win(tmp_path):
    spec = wine_spec()
    header, rows = sklearn_table()
    path = write_csv(tmp_path / "wine.csv", header, rows)
    store = Store(tmp_path / "home")
    remember(store, spec.spec_hash, 1, path, ColumnMap(columns={"label": "gone", "hue": "id"}))
    options = load_options([path], store, spec.spec_hash, chosen={"hue": "hue"})
    dataset = load_dataset([path], spec, options)  # 'gone' is no column any more: ignored
    assert dataset.reports[0].mapping.label.file_column == "target"
    assert dataset.reports[0].mapping.features[10].file_column == "hue"
    store.db["column_maps"].update((spec.spec_hash.lower(), str(path.resolve())),
                                   {"mapping": "[not a mapping"})
    assert recall(store, spec.spec_hash, path) is None


def test_the_staged_service_reuses_the_mapping_as_standing_contributions_do(tmp_path):
    """A contribution whose owner chose the label column remembers it; the next one (the
    autopilot's, which has no one to ask) reads the same file without being told."""
    from wallet.column_maps import DataChoices
    from wallet.contribute import Contribution

    spec = wine_spec()
    header, rows = sklearn_table()
    header[header.index("target")] = "cultivar"
    path = write_csv(tmp_path / "wine.csv", header, rows)
    store = Store(tmp_path / "home")

    def prepared() -> Contribution:  # what open_round leaves (no chain needed here)
        contribution = Contribution(None, 3, file_roots=[tmp_path], store=store)
        contribution.spec = spec
        return contribution

    first = prepared()
    with pytest.raises(DataError, match="no label column for 'label'"):
        first.load_data([path])
    assert first.load_data([path], choices=DataChoices(columns={"label": "cultivar"})).n_rows == 178
    standing = prepared()
    assert standing.check_file(path) is None
    assert standing.load_data([path]).reports[0].mapping.label.how == "remembered"
    unremembered = Contribution(None, 3, file_roots=[tmp_path])
    unremembered.spec = spec
    assert "no label column for 'label'" in unremembered.check_file(path)
