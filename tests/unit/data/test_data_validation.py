"""Loading and validating tables: every error path names the file, the column and the rows."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admet_hpo.data.loading import check_table, guess_target_columns, load_table
from admet_hpo.data.table import TableSpec
from admet_hpo.errors import DataValidationError

SPEC = TableSpec(target_cols=("a", "b"))
CURRICULUM = TableSpec(target_cols=("a",), qualities=("high", "medium", "low"))


def test_valid_table_loads_with_nan_for_missing_labels_and_file_line_numbers(write_csv) -> None:
    path = write_csv(
        """
        smiles,a,b,quality,experiment
        CCO,1.5,,high,lab1
        c1ccccc1,,-2,low,lab2
        CCN,3,4,medium,lab1
        """
    )
    table = load_table(path, SPEC)
    assert table.smiles.tolist() == ["CCO", "c1ccccc1", "CCN"]
    np.testing.assert_array_equal(table.targets, [[1.5, np.nan], [np.nan, -2.0], [3.0, 4.0]])
    assert table.lines.tolist() == [2, 3, 4]
    assert table.quality.tolist() == ["high", "low", "medium"]
    assert table.experiment.tolist() == ["lab1", "lab2", "lab1"]
    assert table.condition is None and table.split is None
    assert table.skipped == ()
    assert len(table.content_hash) == 64


def test_unsupported_suffix_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "table.xlsx"
    path.write_text("smiles,a\n")
    with pytest.raises(DataValidationError, match=r"table\.xlsx: unsupported table format '\.xlsx'.*\.csv"):
        load_table(path, SPEC)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"nothere\.csv: file not found"):
        load_table(tmp_path / "nothere.csv", SPEC)


def test_empty_file_and_header_only_file(write_csv) -> None:
    with pytest.raises(DataValidationError, match=r"empty\.csv: the file is empty; expected a header line"):
        load_table(write_csv("", "empty.csv"), SPEC)
    with pytest.raises(DataValidationError, match=r"header\.csv: the table has no data rows"):
        load_table(write_csv("smiles,a,b\n", "header.csv"), SPEC)


def test_ragged_csv_is_a_parse_error_naming_the_file(write_csv) -> None:
    path = write_csv("smiles,a\nCCO,1\nCCN,2,3,4\n")
    with pytest.raises(DataValidationError, match=r"table\.csv: cannot parse as CSV: .*line 3"):
        load_table(path, TableSpec(target_cols=("a",)))


def test_unknown_columns_list_the_available_ones(write_csv) -> None:
    path = write_csv("SMILES,a\nCCO,1\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, SPEC)
    message = str(caught.value)
    assert "table.csv: column 'smiles' (SMILES column) not found; available columns: 'SMILES', 'a'" in message
    assert "column 'b' (target) not found" in message


def test_non_numeric_targets_name_column_first_five_lines_and_examples(write_csv) -> None:
    rows = "\n".join(f"CCO,{value},1" for value in ["1", "x1", "2", "x2", "x3", "x4", "x5", "x6", "inf"])
    path = write_csv("smiles,a,b\n" + rows + "\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, SPEC)
    message = str(caught.value)
    assert "column 'a': 7 non-numeric values at lines 3, 5, 6, 7, 8 and 2 more" in message
    assert "'x1' at line 3" in message
    assert "expected a plain decimal number such as 12, -0.5 or 1.5e-3, or an empty cell" in message
    assert "column 'b'" not in message


@pytest.mark.parametrize("cell", ["1_000", "１２", "٣", "0x10", "Infinity", "-inf", "1e", "1.2.3", "½"])
def test_only_plain_decimal_numbers_are_numbers(write_csv, cell: str) -> None:
    path = write_csv(f"smiles,a\nCCO,1\nCCN,{cell}\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, TableSpec(target_cols=("a",)))
    assert f"table.csv: column 'a': 1 non-numeric value at line 3 (e.g. {cell!r} at line 3)" in str(
        caught.value
    )


@pytest.mark.parametrize("cell", ["12", "-0.5", "+.5", "3.", "1.5e-3", "2E+4", " 7 "])
def test_plain_numbers_are_read(write_csv, cell: str) -> None:
    table = load_table(write_csv(f'smiles,a\nCCO,"{cell}"\n'), TableSpec(target_cols=("a",)))
    assert table.targets[0, 0] == float(cell)


@pytest.mark.parametrize("marker", ["NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A", "<NA>"])
def test_pandas_missing_markers_are_missing_cells_in_every_column(write_csv, marker: str) -> None:
    """As docs/guide/your-data.md says and as pandas and chemprop read a CSV."""
    table = load_table(
        write_csv(f"smiles,a,condition\nCCO,1.0,{marker}\nCCN,{marker},human\n"),
        TableSpec(target_cols=("a",)),
    )
    assert np.isnan(table.targets[1, 0]) and table.targets[0, 0] == 1.0
    assert list(table.condition) == ["", "human"]
    with pytest.raises(
        DataValidationError, match=r"column 'condition': 1 row with no condition value at line 2"
    ):
        load_table(
            write_csv(f"smiles,a,condition\nCCO,1.0,{marker}\nCCN,2,human\n"),
            TableSpec(target_cols=("a",), require_condition=True),
        )


def test_markers_are_matched_as_written(write_csv) -> None:
    """``na`` or a padded `` NA `` is not one of pandas' markers: a non-numeric value, named."""
    path = write_csv('smiles,a\nCCO,1\nCCN,na\nCCC," NA "\n')
    with pytest.raises(DataValidationError, match=r"column 'a': 2 non-numeric values at lines 3, 4"):
        load_table(path, TableSpec(target_cols=("a",)))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("smiles,y, y", "line 1: column name 'y' appears twice, as columns 2 and 3 (written ' y' and 'y')"),
        ("smiles,y,smiles", "line 1: column name 'smiles' appears twice, as columns 1 and 3;"),
        ("smiles,y,y", "line 1: column name 'y' appears twice, as columns 2 and 3;"),
    ],
)
def test_duplicate_column_names_are_errors(write_csv, header: str, expected: str) -> None:
    path = write_csv(header + "\nCCO,1,2\n")
    with pytest.raises(DataValidationError, match="table.csv: " + re.escape(expected)):
        load_table(path, TableSpec(target_cols=("y",)))


def test_a_column_named_like_a_pandas_rename_is_kept(write_csv) -> None:
    table = load_table(write_csv("smiles,y,y.1\nCCO,1,2\n"), TableSpec(target_cols=("y", "y.1")))
    assert table.targets.tolist() == [[1.0, 2.0]]


def test_a_target_without_labels_is_an_error(write_csv) -> None:
    path = write_csv("smiles,y,z\nCCO,1,\nCCN,2,NA\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, TableSpec(target_cols=("y", "z")))
    assert "table.csv: column 'z': no labels: every cell is empty; expected a plain decimal number" in str(
        caught.value
    )
    assert "column 'y'" not in str(caught.value)


def test_a_long_cell_is_shortened_in_messages(write_csv, caplog: pytest.LogCaptureFixture) -> None:
    huge = "C" * 1_000_000 + "("
    with caplog.at_level(logging.WARNING, logger="admet_hpo.data.loading"):
        load_table(write_csv(f"smiles,a\nCCO,1\n{huge},2\n"), TableSpec(target_cols=("a",)))
    assert "1 unparsable SMILES at line 3 (e.g. 'CCCC" in caplog.text and len(caplog.text) < 2000


def test_unparsable_smiles_are_skipped_counted_and_logged(
    write_csv, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_csv("smiles,a,b\nCCO,1,\nC1CC,2,\nnot_a_smiles,3,\n,4,\nCCN,5,6\n")
    with caplog.at_level(logging.WARNING, logger="admet_hpo.data.loading"):
        table = load_table(path, SPEC)
    assert table.smiles.tolist() == ["CCO", "CCN"]
    assert table.lines.tolist() == [2, 6]
    assert [(row.line, row.smiles) for row in table.skipped] == [(3, "C1CC"), (4, "not_a_smiles"), (5, "")]
    assert table.skipped[2].reason == "empty SMILES"
    assert "3 unparsable SMILES at lines 3, 4, 5" in caplog.text
    assert "these rows are skipped" in caplog.text


def test_unparsable_smiles_are_rejected_when_strict(write_csv) -> None:
    path = write_csv("smiles,a\nCCO,1\nC1CC,2\n")
    with pytest.raises(
        DataValidationError, match=r"column 'smiles': 1 unparsable SMILES at line 3 .*strict is on"
    ):
        load_table(path, TableSpec(target_cols=("a",), strict=True))


def test_no_usable_smiles_at_all_is_an_error(write_csv) -> None:
    with pytest.raises(DataValidationError, match=r"no row has a usable SMILES"):
        load_table(write_csv("smiles,a\nxx,1\nyy,2\n"), TableSpec(target_cols=("a",)))


def test_missing_quality_when_curriculum_is_on(write_csv) -> None:
    path = write_csv("smiles,a,quality\nCCO,1,high\nCCN,2,\nCCC,3,low\n")
    with pytest.raises(
        DataValidationError,
        match=r"column 'quality': 1 row with no quality value at line 3; expected one of high, medium, low "
        r"\(the quality curriculum is on\)",
    ):
        load_table(path, CURRICULUM)


def test_quality_outside_the_configured_list(write_csv) -> None:
    path = write_csv("smiles,a,quality\nCCO,1,high\nCCN,2,great\nCCC,3,HIGH\n")
    with pytest.raises(
        DataValidationError,
        match=r"column 'quality': 2 values not in the allowed list at lines 3, 4 \(found 'great', 'HIGH'\)",
    ):
        load_table(path, CURRICULUM)


def test_quality_column_required_only_with_curriculum(write_csv) -> None:
    path = write_csv("smiles,a\nCCO,1\n")
    assert load_table(path, TableSpec(target_cols=("a",))).quality is None
    with pytest.raises(
        DataValidationError, match=r"column 'quality' \(quality column, the quality curriculum is on\)"
    ):
        load_table(path, CURRICULUM)


def test_quality_read_without_curriculum_keeps_free_values(write_csv) -> None:
    path = write_csv("smiles,a,quality\nCCO,1,whatever\nCCN,2,\n")
    assert load_table(path, TableSpec(target_cols=("a",))).quality.tolist() == ["whatever", ""]


@pytest.mark.parametrize(
    ("column", "spec", "why"),
    [
        (
            "experiment",
            TableSpec(target_cols=("a",), require_experiment=True),
            "batches are experiment-aware",
        ),
        (
            "condition",
            TableSpec(target_cols=("a",), require_condition=True),
            "batches are condition-balanced",
        ),
    ],
)
def test_missing_experiment_or_condition_values_when_required(write_csv, column: str, spec, why: str) -> None:
    path = write_csv(f"smiles,a,{column}\nCCO,1,x\nCCN,2,\n")
    with pytest.raises(
        DataValidationError, match=rf"column '{column}': 1 row with no {column} value at line 3.*{why}"
    ):
        load_table(path, spec)
    absent = write_csv("smiles,a\nCCO,1\n", "absent.csv")
    with pytest.raises(
        DataValidationError, match=rf"absent\.csv: column '{column}' \({column} column, {why}\)"
    ):
        load_table(absent, spec)


def test_split_column_values_must_be_train_val_test(write_csv) -> None:
    path = write_csv("smiles,a,fold\nCCO,1,train\nCCN,2,valid\nCCC,3,\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, TableSpec(target_cols=("a",), split_col="fold"))
    message = str(caught.value)
    assert "column 'fold': 1 value not in the allowed list at line 3 (found 'valid')" in message
    assert "expected one of train, val, test" in message
    assert "column 'fold': 1 row with no split value at line 4" in message


def test_blank_lines_do_not_renumber_rows(write_csv) -> None:
    path = write_csv("smiles,a\nCCO,1\n\nCCN,x\n")
    with pytest.raises(DataValidationError, match=r"non-numeric value at line 4"):
        load_table(path, TableSpec(target_cols=("a",)))


def test_all_fatal_problems_are_reported_together(write_csv) -> None:
    path = write_csv("smiles,a,quality\nCCO,x,\n")
    with pytest.raises(DataValidationError) as caught:
        load_table(path, CURRICULUM)
    assert len(str(caught.value).splitlines()) == 2


def test_parquet_loads_like_csv_with_the_same_content_hash(write_csv, tmp_path: Path) -> None:
    csv_path = write_csv("smiles,a,b,quality\nCCO,1.25,,high\nCCN,,0.1,low\n")
    parquet_path = tmp_path / "table.parquet"
    pd.read_csv(csv_path).to_parquet(parquet_path)
    from_csv, from_parquet = load_table(csv_path, SPEC), load_table(parquet_path, SPEC)
    np.testing.assert_array_equal(from_csv.targets, from_parquet.targets)
    assert from_parquet.lines.tolist() == [1, 2]
    assert from_csv.content_hash == from_parquet.content_hash


def test_parquet_messages_count_rows(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    pd.DataFrame({"smiles": ["CCO", "CCN"], "a": ["1", "oops"]}).to_parquet(path)
    with pytest.raises(
        DataValidationError, match=r"table\.parquet: column 'a': 1 non-numeric value at row 2"
    ):
        load_table(path, TableSpec(target_cols=("a",)))


def test_content_hash_changes_with_content(write_csv) -> None:
    base = load_table(write_csv("smiles,a,b\nCCO,1,2\n", "t1.csv"), SPEC).content_hash
    assert load_table(write_csv("smiles,a,b\nCCO,1,2.5\n", "t2.csv"), SPEC).content_hash != base
    assert load_table(write_csv("smiles,a,b\nCCN,1,2\n", "t3.csv"), SPEC).content_hash != base
    assert load_table(write_csv("smiles,b,a\nCCO,2,1\n", "t4.csv"), SPEC).content_hash == base


def test_check_table_reports_every_problem_and_counts(write_csv) -> None:
    path = write_csv(
        """
        smiles,a,b,experiment,quality
        CCO,1,,lab1,high
        C1CC,2,,lab1,high
        CCN,x,3,lab2,
        CCC,,,lab2,low
        """
    )
    report = check_table(path, TableSpec(target_cols=("a", "b", "c"), qualities=("high", "low")))
    assert not report.ok
    assert [p.column for p in report.problems] == ["smiles", "a", "c", "quality"]
    assert [p.fatal for p in report.problems] == [False, True, True, True]
    assert report.problems[0].lines == (3,) and report.problems[1].count == 1
    assert (report.file_rows, report.rows, len(report.skipped)) == (4, 3, 1)
    assert report.labels == {"a": 1, "b": 1, "c": 0}
    assert report.rows_without_labels == 1
    by_role = {group.role: group for group in report.groups}
    assert by_role["experiment"].rows == {"lab1": 1, "lab2": 2}
    assert by_role["experiment"].labels["lab2"] == {"a": 0, "b": 1, "c": 0}
    assert by_role["quality"].rows == {"high": 1, "low": 1, "(missing)": 1}


def test_guess_target_columns_keeps_mostly_numeric_columns(write_csv) -> None:
    path = write_csv("id,smiles,a,b,experiment\nm1,CCO,1,x,lab\nm2,CCN,2,3,lab\nm3,CCC,,4,lab\n")
    assert guess_target_columns(path, exclude={"smiles", "experiment"}) == ("a", "b")


def test_a_latin1_byte_deep_in_a_csv_is_reported_at_its_file_offset(tmp_path: Path) -> None:
    """pandas reads in chunks: its error offset is within a chunk, the message gives the file's."""
    rows = "smiles,y\n" + "CCO,1\n" * 60_000
    path = tmp_path / "table.csv"
    path.write_bytes(rows.encode() + "CC\xe9,2\n".encode("latin-1"))
    with pytest.raises(DataValidationError) as caught:
        load_table(path, TableSpec(target_cols=("y",)))
    offset = len(rows) + 2
    assert str(caught.value) == (
        f"{path}: not UTF-8 text: byte 0xe9 at byte offset {offset} (line 60002, column 3); "
        "save the CSV as UTF-8"
    )
