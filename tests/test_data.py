"""Loading CSV and .npz files against a spec's schema; every problem in one message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.data import LoadOptions, load_data, load_dataset
from trainer.errors import DataError, TrainerError
from trainer.testing import make_spec


@pytest.fixture
def spec():
    return make_spec(
        n_features=3,
        classes=["cat", "dog"],
        **{
            "schema.columns": [
                {"name": "age", "type": "int"},
                {"name": "weight", "type": "float"},
                {"name": "height", "type": "float"},
            ],
            "schema.label": "species",
            "schema.min_rows": 3,
            "standardize.mean": [10.0, 0.0, 1.0],
            "standardize.std": [2.0, 1.0, 0.5],
        },
    )


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "species,height,age,weight\ncat,1.5,12,3.0\ndog,2.0,8,-1\ncat,1.0,10,0.5\n"


def test_csv_loads_in_spec_column_order_and_standardises(tmp_path, spec):
    X, y = load_data([_write(tmp_path / "a.csv", GOOD)], spec)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.allclose(X[0], [(12 - 10) / 2, 3.0, (1.5 - 1) / 0.5])
    assert y.tolist() == [0, 1, 0]


def test_the_summary_says_when_the_data_is_smaller_than_a_training_batch(tmp_path, spec):
    """trainer.train.batch_weight: fewer rows than a batch take a step in proportion."""
    small = load_dataset([_write(tmp_path / "a.csv", GOOD)], spec).summary(spec)
    batch = spec.training.batch_size
    assert batch > 3 and f"fewer than one training batch ({batch} rows)" in small
    assert f"moves the model 3/{batch} as far" in small
    many = GOOD + "".join(f"dog,1.0,{i},0.5\n" for i in range(batch))
    assert "fewer than one training batch" not in load_dataset([_write(tmp_path / "b.csv", many)], spec).summary(spec)


def test_several_files_are_concatenated(tmp_path, spec):
    a = _write(tmp_path / "a.csv", GOOD)
    b = _write(tmp_path / "b.csv", "age;weight;height;species\n9;1;1;dog\n")
    ds = load_dataset([a, b], spec)
    assert ds.n_rows == 4 and ds.y.tolist() == [0, 1, 0, 1]
    assert ds.class_counts(2) == [2, 2]


def test_every_problem_is_listed_in_one_message(tmp_path, spec):
    bad = _write(
        tmp_path / "bad.csv",
        "species,height,age,weight,notes\ncat,1.5,12,3.0,x\nbird,abc,12.5,nan,y\ndog,,8,inf,z\n",
    )
    with pytest.raises(DataError) as info:  # strict: every cell that would be dropped is listed
        load_data([bad, tmp_path / "missing.csv"], spec, LoadOptions(strict=True))
    text = str(info.value)
    assert isinstance(info.value, TrainerError)
    assert "notes" not in text  # an extra column is no problem
    assert "line 3, column 'height': 'abc' is not a finite number" in text
    assert "line 3, column 'age': '12.5' is not an integer" in text
    assert "line 3, column 'weight': 'nan' is a missing value" in text
    assert "line 3, label 'species': 'bird' is not one of the classes" in text
    assert "label values that are not classes: 'bird' (1 rows)" in text
    assert "line 4, column 'height': '(empty)' is a missing value" in text
    assert "line 4, column 'weight': 'inf'" in text
    assert f"{tmp_path / 'missing.csv'}: no such file." in text  # the path as given
    assert "(8 problem(s))" in text


def test_a_file_of_another_schema_gets_short_column_lists(tmp_path, spec):
    other = ",".join(f"feature_{i}" for i in range(30))
    with pytest.raises(DataError) as info:
        load_data([_write(tmp_path / "other.csv", other + "\n" + ",".join("1" * 30) + "\n")], spec)
    text = str(info.value)
    assert "other.csv: no column for 'age', 'weight', 'height', 'species' (4 of the bounty's 4 " \
        "columns); the file has feature_0, feature_1, " in text
    assert "feature_11 and 18 more. Is it the right file?" in text and "feature_12" not in text
    assert "(1 problem(s))" in text


def test_missing_columns_and_too_few_rows(tmp_path, spec):
    with pytest.raises(DataError, match="no column for 'weight'"):
        load_data([_write(tmp_path / "a.csv", "species,height,age\ncat,1,2\n")], spec)
    with pytest.raises(DataError, match="needs at least 3"):
        load_data([_write(tmp_path / "b.csv", "species,height,age,weight\ncat,1,2,3\n")], spec)


def test_long_problem_list_is_capped(tmp_path, spec):
    rows = "".join("cat,x,1,1\n" for _ in range(50))
    with pytest.raises(DataError) as info:
        load_data([_write(tmp_path / "a.csv", "species,height,age,weight\n" + rows)], spec,
                  LoadOptions(strict=True))
    text = str(info.value)
    assert "(50 problem(s))" in text and "... and 30 more." in text
    assert text.count("\n- ") == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\x00garbage\x00", "not a text file"),
        (b"species,height,age,weight\n", "no data rows"),
        (b"species,height,age,weight\ncat,1,2\n", "line 2: 3 cells, the header has 4"),
        (b"species,height,species,weight,age\n", "no data rows"),
        (b'species,height,age,weight\ncat,"1,2,3\n', "no usable rows|not a readable CSV"),
    ],
)
def test_malformed_csv(tmp_path, spec, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_data([path], spec)


def test_npz_per_column_arrays(tmp_path, spec):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        age=np.array([10, 12, 14]),
        weight=np.array([0.0, 1.0, 2.0]),
        height=np.array([1.0, 1.0, 1.5]),
        species=np.array(["dog", "cat", "dog"]),
    )
    X, y = load_data([path], spec)
    assert y.tolist() == [1, 0, 1]
    assert np.allclose(X[:, 0], [0, 1, 2])


def test_npz_x_y_arrays_and_int_classes(tmp_path):
    spec = make_spec(n_features=2, classes=[3, 7], **{"schema.min_rows": 2})
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([[1.0, 2.0], [3.0, 4.0]]), y=np.array([7, 3]))
    X, y = load_data([path], spec)
    assert y.tolist() == [1, 0] and X.shape == (2, 2)
    csv_path = _write(tmp_path / "d.csv", "f0,f1,label\n1,2,7.0\n3,4,3\n")
    assert load_data([csv_path], spec)[1].tolist() == [1, 0]


def test_npz_problems(tmp_path, spec):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        age=np.array([10.5, 12, 14]),
        weight=np.array([0.0, np.inf, 2.0]),
        height=np.array([1.0, 1.0, 1.5]),
        species=np.array(["dog", "cow", "dog"]),
        extra=np.zeros(3),
    )
    with pytest.raises(DataError) as info:
        load_data([path], spec, LoadOptions(strict=True))
    text = str(info.value)
    assert "extra" not in text
    assert "row 0, column 'age'" in text
    assert "row 1, column 'weight'" in text
    assert "row 1, label 'species': 'cow'" in text


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path, spec):
    path = tmp_path / "evil.npz"
    np.savez(
        path,
        age=np.array([1, 2, 3], dtype=object),
        weight=np.zeros(3),
        height=np.zeros(3),
        species=np.array(["cat"] * 3),
    )
    with pytest.raises(DataError, match="not a readable .npz"):
        load_data([path], spec)


def test_garbage_npz_and_unknown_suffix(tmp_path, spec):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    other = tmp_path / "data.docx"
    other.write_bytes(b"x")
    with pytest.raises(DataError) as info:
        load_data([bad, other], spec)
    assert "bad.npz: not a readable .npz" in str(info.value)
    assert "unsupported file type '.docx'" in str(info.value)


def test_no_files():
    with pytest.raises(DataError, match="at least one"):
        load_data([], make_spec())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.text(alphabet="abc,;\t\n\r\"' .-0123456789eEnaif", max_size=300))
def test_fuzz_csv_only_data_errors(tmp_path, spec, body):
    path = tmp_path / "fuzz.csv"
    path.write_text("species,height,age,weight\n" + body, encoding="utf-8")
    try:
        X, y = load_data([path], spec)
    except DataError:
        return
    assert X.shape == (len(y), 3) and np.all(np.isfinite(X))


def test_row_counts_read_as_english():
    from trainer.data import rows_text

    assert [rows_text(n) for n in (0, 1, 2, 1000)] == ["0 rows", "1 row", "2 rows", "1,000 rows"]
