"""`quarry-practitioner spec-from FILE --label COL`: a draft spec from a real table (issue 11)."""

from __future__ import annotations

import json

import pytest

from practitioner.cli import main
from practitioner.post import check_spec
from tests.table_fixtures import sklearn_table, write_ods, write_xlsx
from trainer.data import load_dataset
from trainer.key_proof import prove_modulus
from trainer.testing import test_keypair


def test_draft_from_a_spreadsheet_posts_and_reads_the_same_file(tmp_path, capsys):
    header, rows = sklearn_table()
    path = write_xlsx(tmp_path / "wine.xlsx", header, rows)
    assert main(["spec-from", str(path), "--label", "target", "--sheet", "Data"]) == 0
    out, err = capsys.readouterr()
    draft = json.loads(out)
    names = [c["name"] for c in draft["schema"]["columns"]]
    assert "od280/od315_of_diluted_wines" in names and "target" not in names
    assert "id" in names and "notes" not in names and "région" not in names
    assert "left out (not numbers): région, notes" in err
    assert draft["schema"]["classes"] == [0, 1, 2] and draft["model"]["type"] == "softmax"
    types = {c["name"]: c["type"] for c in draft["schema"]["columns"]}
    assert types["magnesium"] == "int" and types["alcohol"] == "float"
    public_key, private_key = test_keypair(512)
    spec = check_spec(draft, paillier_n=public_key.n,
        paillier_proof=prove_modulus(private_key.p, private_key.q))  # a valid spec once post fills its part
    assert load_dataset([path], spec).n_rows == 178  # the practitioner's validation reader


def test_draft_with_text_classes_and_an_unclean_name(tmp_path, capsys):
    header = ["  weight (kg)", "height", "species"]
    rows = [[1.5, 2, "cat"], [2.5, 3, "dog"], [None, 4, "NA"], [3.0, 5, "cat"]]
    path = write_ods(tmp_path / "pets.ods", header, rows)
    out_file = tmp_path / "spec.json"
    assert main(["spec-from", str(path), "--label", "species", "--out", str(out_file)]) == 0
    draft = json.loads(out_file.read_text())
    assert draft["schema"]["classes"] == ["cat", "dog"] and draft["task"] == "binary_classification"
    assert draft["schema"]["columns"][0] == {"name": "weight (kg)", "type": "float"}
    assert main(["spec-from", str(path), "--label", "species", "--out", str(out_file)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["spec-from", str(path), "--label", "kind"]) == 1
    assert "no column 'kind' for the label" in capsys.readouterr().err
    # the fewest rows an owner must bring is an option (a bounty open to one-row owners)
    assert draft["schema"]["min_rows"] == 20
    assert main(["spec-from", str(path), "--label", "species", "--min-rows", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"]["min_rows"] == 1
    assert main(["spec-from", str(path), "--label", "species", "--min-rows", "0"]) == 1
    assert "at least 1 (got 0)" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"a,b\n1,x\n", b"\x00\x00garbage"])
def test_draft_refuses_what_cannot_be_a_spec(tmp_path, capsys, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["spec-from", str(path), "--label", "b"]) == 1
    assert capsys.readouterr().err.startswith("error: bad.csv")
