"""Censored labels in tables: every inline qualifier form, qualifier columns, transforms, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.training import TargetTransformConfig, TrainingConfig
from admet_hpo.data.censoring import ABOVE, BELOW, EXACT, parse_cell, qualifier_columns
from admet_hpo.data.loading import check_table, load_table
from admet_hpo.data.table import TableSpec
from admet_hpo.data.transforms import apply_transform
from admet_hpo.errors import ConfigError, DataValidationError


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1.5", (1.5, EXACT)),
        ("=1.5", (1.5, EXACT)),
        (" = 1.5 ", (1.5, EXACT)),
        ("<0.1", (0.1, BELOW)),
        ("< 0.1", (0.1, BELOW)),
        ("<=0.1", (0.1, BELOW)),
        ("  <=  0.1", (0.1, BELOW)),
        (">100", (100.0, ABOVE)),
        ("> 100", (100.0, ABOVE)),
        (">=1e3", (1000.0, ABOVE)),
        ("<-2.5", (-2.5, BELOW)),
        ("-2.5", (-2.5, EXACT)),
        (3.0, (3.0, EXACT)),
        (None, None),
        ("   ", None),
        ("~5", "bad_qualifier"),
        ("<<3", "bad_qualifier"),
        (">>3", "bad_qualifier"),
        ("<", "bad_qualifier"),
        ("=", "bad_qualifier"),
        ("<abc", "bad_qualifier"),
        ("<inf", "bad_qualifier"),
        ("=<3", "bad_qualifier"),
        ("≤3", "bad_qualifier"),
        ("abc", "non_numeric"),
        ("3<", "non_numeric"),
        ("nan", "non_numeric"),
        (math.inf, "non_numeric"),
    ],
)
def test_parse_cell_every_form(cell: object, expected: object) -> None:
    assert parse_cell(cell) == expected


def test_inline_qualifiers_become_bounds_with_their_values(write_csv) -> None:
    path = write_csv(
        """
        smiles,a,b
        CCO,<0.1,5
        CCN,> 100,
        CCC,=3,<=2
        CCCl,4,>= 7
        """
    )
    table = load_table(path, TableSpec(target_cols=("a", "b")))
    np.testing.assert_array_equal(table.targets, [[0.1, 5], [100, np.nan], [3, 2], [4, 7]])
    np.testing.assert_array_equal(table.censoring, [[-1, 0], [1, 0], [0, -1], [0, 1]])
    assert table.censored.sum() == 4


def test_a_table_without_bounds_has_no_censoring_and_the_same_hash_as_before(write_csv) -> None:
    plain = load_table(write_csv("smiles,a\nCCO,1\nCCN,=2\n"), TableSpec(target_cols=("a",)))
    assert plain.censoring is None
    assert not plain.censored.any()
    same = load_table(write_csv("smiles,a\nCCO,1\nCCN,2\n", "same.csv"), TableSpec(target_cols=("a",)))
    assert plain.content_hash == same.content_hash
    bounded = load_table(write_csv("smiles,a\nCCO,1\nCCN,<2\n", "bounded.csv"), TableSpec(target_cols=("a",)))
    assert bounded.content_hash != plain.content_hash


def test_qualifier_columns_by_pattern_and_their_merge_with_inline_qualifiers(write_csv) -> None:
    path = write_csv(
        """
        smiles,HLM,HLM modifier,sol,sol modifier,note
        CCO,3,<,1,,x
        CCN,150,>,<0.5,<,x
        CCC,20,=,2, <= ,x
        CCCl,21,,> 4,,x
        CCBr,,,7,=,x
        """
    )
    spec = TableSpec(
        target_cols=("HLM", "sol"), qualifier_cols=qualifier_columns("{target} modifier", ("HLM", "sol"))
    )
    table = load_table(path, spec)
    np.testing.assert_array_equal(table.censoring, [[-1, 0], [1, -1], [0, -1], [0, 1], [0, 0]])
    report = check_table(path, spec)
    assert report.censoring == {"HLM": {"=": 2, "<": 1, ">": 1}, "sol": {"=": 2, "<": 2, ">": 1}}


def test_qualifier_column_mapping_for_some_targets_only(write_csv) -> None:
    path = write_csv("smiles,a,q,b\nCCO,1,<,2\nCCN,3,,4\n")
    table = load_table(
        path, TableSpec(target_cols=("a", "b"), qualifier_cols=qualifier_columns({"a": "q"}, ("a", "b")))
    )
    np.testing.assert_array_equal(table.censoring, [[-1, 0], [0, 0]])


def problems_of(path, spec: TableSpec) -> list[str]:
    return [problem.message for problem in check_table(path, spec).problems if problem.fatal]


def test_bad_inline_qualifiers_are_errors_with_file_column_and_line(write_csv) -> None:
    path = write_csv("smiles,a\nCCO,~5\nCCN,1\nCCC,<<3\nCCCl,abc\n")
    messages = problems_of(path, TableSpec(target_cols=("a",)))
    assert len(messages) == 2
    non_numeric, bad = messages
    assert bad.startswith(
        f"{path}: column 'a': 2 bad qualifiers at lines 2, 4 (e.g. '~5' at line 2, '<<3' at line 4)"
    )
    assert "expected a number with an optional qualifier: <x, >x, <=x, >=x or =x" in bad
    assert non_numeric.startswith(f"{path}: column 'a': 1 non-numeric value at line 5 (e.g. 'abc' at line 5)")
    with pytest.raises(DataValidationError, match=r"column 'a': 2 bad qualifiers at lines 2, 4"):
        load_table(path, TableSpec(target_cols=("a",)))


def test_qualifier_column_errors(write_csv) -> None:
    path = write_csv(
        """
        smiles,a,a modifier
        CCO,1,~
        CCN,,<
        CCC,<2,>
        CCCl,3,<<
        """
    )
    spec = TableSpec(target_cols=("a",), qualifier_cols={"a": "a modifier"})
    unknown, dangling, conflict = problems_of(path, spec)
    assert unknown.startswith(
        f"{path}: column 'a modifier': 2 bad qualifiers (qualifier column of target 'a') at lines 2, 5 "
        "(e.g. '~' at line 2, '<<' at line 5); expected one of =, <, >, <=, >= or an empty cell"
    )
    assert dangling.startswith(f"{path}: column 'a modifier': 1 qualifier on an empty 'a' cell at line 3")
    assert conflict.startswith(
        f"{path}: column 'a modifier': 1 qualifier contradicting the inline one in 'a' at line 4"
    )


def test_a_missing_qualifier_column_is_named_with_its_target(write_csv) -> None:
    path = write_csv("smiles,a,b\nCCO,1,2\n")
    spec = TableSpec(target_cols=("a", "b"), qualifier_cols=qualifier_columns("{target} mod", ("a", "b")))
    available = "available columns: 'smiles', 'a', 'b'"
    assert problems_of(path, spec) == [
        f"{path}: column '{t} mod' (qualifier column of target '{t}') not found; {available}" for t in "ab"
    ]


def test_transforms_raw_units_values_and_bounds_alike(write_csv) -> None:
    path = write_csv("smiles,clint,ic50\nCCO,0,1e-6\nCCN,<10,<1e-9\nCCC,>1000,\nCCCl,99,> 1e-4\n")
    spec = TableSpec(
        target_cols=("clint", "ic50"),
        transforms={
            "clint": TargetTransformConfig(log10=True, offset=1.0),
            "ic50": TargetTransformConfig(log10=True, negate=True),
        },
    )
    table = load_table(path, spec)
    np.testing.assert_allclose(table.targets[:, 0], np.log10([1, 11, 1001, 100]))
    np.testing.assert_allclose(table.targets[[0, 1, 3], 1], [6, 9, 4])
    # clint keeps its directions; the sign flip turns IC50 '<' into pIC50 '>' and back
    np.testing.assert_array_equal(table.censoring, [[0, 0], [-1, 1], [1, 0], [0, -1]])


def test_a_floor_raises_zeros_and_low_bounds(write_csv) -> None:
    path = write_csv("smiles,v\nCCO,0\nCCN,<0.01\nCCC,5\n")
    table = load_table(
        path, TableSpec(target_cols=("v",), transforms={"v": TargetTransformConfig(log10=True, floor=0.1)})
    )
    np.testing.assert_allclose(table.targets[:, 0], [-1, -1, math.log10(5)])
    np.testing.assert_array_equal(table.censoring[:, 0], [0, -1, 0])


def test_log10_of_a_non_positive_value_names_the_cells_and_the_fix(write_csv) -> None:
    path = write_csv("smiles,v\nCCO,0\nCCN,-2\nCCC,5\n")
    spec = TableSpec(target_cols=("v",), transforms={"v": TargetTransformConfig(log10=True, offset=1.0)})
    (message,) = problems_of(path, spec)
    assert message == (
        f"{path}: column 'v': 1 value outside the domain of log10(v + 1) at line 3 (e.g. '-2' at line 3); "
        "expected values > 0 for log10 after the offset: set data.transforms.v.offset or .floor for zeros "
        "and negatives"
    )


finite = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)
transforms = st.builds(
    TargetTransformConfig,
    log10=st.booleans(),
    offset=st.floats(min_value=0, max_value=10),
    floor=st.none() | st.floats(min_value=1e-3, max_value=1.0),
    negate=st.booleans(),
)


@given(transform=transforms, value=finite, bound=finite, code=st.sampled_from([BELOW, ABOVE]))
def test_transforms_keep_a_value_on_its_side_of_its_bound(
    transform: TargetTransformConfig, value: float, bound: float, code: int
) -> None:
    """If the raw value lies on the side of the raw bound that the code says, the transformed value lies
    on the side the transformed code says (ties allowed: the floor can merge them)."""
    if (value - bound) * code < 0:
        value, bound = bound, value
    values, codes, invalid = apply_transform(transform, np.array([value, bound]), np.array([EXACT, code]))
    assert not invalid.any()
    assert codes[0] == EXACT
    assert codes[1] == (-code if transform.negate else code)
    assert (values[0] - values[1]) * codes[1] >= -1e-9


def test_config_checks_the_pattern_and_the_names() -> None:
    base = {"data": {"path": "t.csv", "target_cols": ["a"]}}
    with pytest.raises(ConfigError, match=r"must contain '\{target\}'"):
        validate_mapping(
            TrainingConfig, {"data": {**base["data"], "qualifier_cols": "modifier"}}, source="c.yaml"
        )
    with pytest.raises(ConfigError, match=r"transforms: \['b'\] not in target_cols \['a'\]"):
        validate_mapping(
            TrainingConfig, {"data": {**base["data"], "transforms": {"b": {"log10": True}}}}, source="c.yaml"
        )
    with pytest.raises(ConfigError, match=r"floor"):
        validate_mapping(
            TrainingConfig, {"data": {**base["data"], "transforms": {"a": {"floor": 0}}}}, source="c.yaml"
        )
    with pytest.raises(ConfigError, match=r"censored"):
        validate_mapping(TrainingConfig, {**base, "censored": "ignore"}, source="c.yaml")
    with pytest.raises(ConfigError, match=r"censored_quality 'worst' is not one of the qualities"):
        validate_mapping(
            TrainingConfig,
            {**base, "sampling": {"curriculum": {"censored_quality": "worst"}}},
            source="c.yaml",
        )
    config = validate_mapping(
        TrainingConfig, {"data": {**base["data"], "qualifier_cols": "{target} modifier"}}, source="c.yaml"
    )
    assert config.censored == "loss"
