"""Reading YAML config files: limits checked before values are built, duplicate keys, encodings,
strict numbers and bounded messages, each through `hpo validate` as a user meets them."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.loading import MAX_YAML_BYTES, MAX_YAML_DEPTH, read_yaml_mapping
from admet_hpo.errors import ConfigError

runner = CliRunner()
SPACE = "parameters:\n  alpha: {path: sampling.task_oversampling.alpha, type: float, low: 0.0, high: 1.0}\n"
STUDY = "name: s\nsearch_spaces: [space.yaml]\ndata: {dataset: demo}\n"


def _validate(path: Path) -> str:
    """`hpo validate path`: must fail with status 2 and no traceback; returns the output."""
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, RecursionError)
    return result.output


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes | str], Path]:
    (tmp_path / "space.yaml").write_text(SPACE, encoding="utf-8")

    def write_file(name: str, content: bytes | str) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return write_file


def test_a_key_given_twice_names_both_lines(write: Callable[..., Path]) -> None:
    path = write("study.yaml", STUDY + "n_trials: 3\nname: other\n")
    output = _validate(path)
    assert f"{path}: invalid YAML at line 5: key 'name' given twice, at line 1 and line 5" in output
    nested = write("nested.yaml", "parameters:\n  a: {path: x, type: float, low: 0, high: 1, low: 2}\n")
    with pytest.raises(ConfigError, match=r"line 2: key 'low' given twice, at line 2, columns 29 and 46"):
        read_yaml_mapping(nested)


def test_merge_keys_and_aliases_still_work(write: Callable[..., Path]) -> None:
    path = write("ok.yaml", "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  x: 3\nboth: [*b, *b]\n")
    assert read_yaml_mapping(path) == {
        "base": {"x": 1, "y": 2},
        "derived": {"x": 3, "y": 2},
        "both": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
    }


def test_a_latin1_byte_is_reported_with_its_offset(write: Callable[..., Path]) -> None:
    path = write("study.yaml", (STUDY + "description: caf\xe9\n").encode("latin-1"))
    offset = len(STUDY) + len("description: caf")
    output = _validate(path)
    assert f"{path}: not UTF-8 text: byte 0xe9 at byte offset {offset} (line 4, column 17)" in output


def test_a_byte_order_mark_is_accepted(write: Callable[..., Path]) -> None:
    assert read_yaml_mapping(write("bom.yaml", b"\xef\xbb\xbfname: s\n")) == {"name": "s"}


@pytest.mark.parametrize(
    "nesting",
    [
        "name: " + "[" * 20_000 + "]" * 20_000 + "\n",  # flow style
        "name:\n" + "".join(" " * (i + 1) + "- \n" for i in range(200)),  # block style
        "".join("  " * i + "k:\n" for i in range(MAX_YAML_DEPTH + 1)),
    ],
)
def test_deep_nesting_is_refused_before_building_values(write: Callable[..., Path], nesting: str) -> None:
    path = write("study.yaml", nesting)
    output = _validate(path)
    assert f"{path}: invalid YAML at line" in output
    assert f"nested more than {MAX_YAML_DEPTH} levels deep" in output


def test_nesting_at_the_limit_is_read(write: Callable[..., Path]) -> None:
    levels = MAX_YAML_DEPTH - 1
    text = "".join("  " * i + "k:\n" for i in range(levels)) + "  " * levels + "k: 1\n"
    value = read_yaml_mapping(write("deep.yaml", text))
    for _ in range(MAX_YAML_DEPTH - 1):
        value = value["k"]
    assert value == {"k": 1}


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "name: *i\nsearch_spaces: [space.yaml]\ndata: {dataset: demo}\nn_trials: 1\n"
)


def test_an_alias_bomb_fails_fast_and_small(write: Callable[..., Path]) -> None:
    path = write("study.yaml", BILLION_LAUGHS)
    assert path.stat().st_size < 1200  # ~1 KB that would expand to 9**9 values
    tracemalloc.start()
    output = _validate(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"{path}: invalid YAML at line" in output and "values once aliases (*name) are expanded" in output
    assert peak < 20_000_000  # unbounded, the expanded value takes minutes and gigabytes


def test_an_alias_to_its_own_container_is_refused(write: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"line 1: an alias refers to a value that contains it"):
        read_yaml_mapping(write("loop.yaml", "a: &a [1, *a]\n"))


def test_a_file_over_the_size_limit_is_refused_unread(write: Callable[..., Path]) -> None:
    path = write("study.yaml", STUDY + "#" * MAX_YAML_BYTES + "\n")
    assert f"{path}: larger than {MAX_YAML_BYTES:,} bytes" in _validate(path)


def test_long_values_are_shortened_in_messages(write: Callable[..., Path]) -> None:
    path = write("study.yaml", STUDY.replace("name: s", "name: " + "x" * 100_000) + "n_trials: 1\n")
    output = _validate(path)
    assert f"{path}: name: String should" in output
    assert len(output) < 1000 and "xxx...xxx" in output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("n_trials: true", "n_trials: expected a number, not a boolean"),
        ("n_trials: 1\nmax_epochs: false", "max_epochs: expected a number, not a boolean"),
        ("n_trials: 1\nheartbeat: {interval: true}", "heartbeat.interval: expected a number, not a boolean"),
        ("n_trials: 1\nnightly: {minutes: true}", "nightly.minutes: expected a number, not a boolean"),
        ("timeout: .inf", "timeout: Input should be a finite number"),
        (
            "n_trials: 1\ntraining: {data: {dataset: demo}, sampling: {seed: true}}",
            "training.sampling.seed: expected a number, not a boolean",
        ),
    ],
)
def test_booleans_and_infinities_are_not_numbers(
    write: Callable[..., Path], line: str, expected: str
) -> None:
    path = write("study.yaml", STUDY + line + "\n")
    assert f"{path}: {expected}" in _validate(path)


@pytest.mark.parametrize("bound", ["low: -.inf, high: 1.0", "low: 0.0, high: .inf", "low: .nan, high: 1.0"])
def test_infinite_bounds_are_refused(write: Callable[..., Path], bound: str) -> None:
    path = write("space.yaml", f"parameters:\n  a: {{path: optim.max_lr, type: float, {bound}}}\n")
    output = _validate(path)
    assert f"{path}: parameters.a." in output and "Input should be a finite number" in output


def test_sampler_argument_types_fail_validate(write: Callable[..., Path]) -> None:
    sampler = "sampler: {type: tpe, args: {n_startup_trials: banana}}"
    path = write("study.yaml", STUDY + "n_trials: 2\n" + sampler + "\n")
    output = _validate(path)
    assert f"{path}: sampler.args.n_startup_trials: Input should be a valid integer" in output


@pytest.mark.parametrize(
    ("trainer", "expected"),
    [
        ("{devices: banana}", "trainer.devices: 'banana' is not a number"),
        (
            "{accelerator: banana}",
            "training.trainer.accelerator: Input should be 'auto', 'cpu', 'gpu' or 'cuda'",
        ),
        (
            "{accelerator: gpu, devices: '0,0'}",
            "trainer.devices: '0,0' is not a list of distinct GPU indices",
        ),
        ("{devices: 0}", "trainer.devices: 0 is not a number of"),
    ],
)
def test_device_values_no_machine_has_fail_validate(
    write: Callable[..., Path], trainer: str, expected: str
) -> None:
    path = write(
        "study.yaml", STUDY + f"n_trials: 1\ntraining: {{data: {{dataset: demo}}, trainer: {trainer}}}\n"
    )
    assert f"{path}: {expected}" in _validate(path)


def test_devices_beyond_this_machine_are_a_validate_warning(write: Callable[..., Path]) -> None:
    path = write("train.yaml", "data: {dataset: demo}\ntrainer: {accelerator: cpu, devices: 100000}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: on this machine: trainer.devices: 100000 exceeds this machine" in result.output


def test_a_validator_quoting_a_huge_value_is_cut(write: Callable[..., Path]) -> None:
    ratio = ", ".join(f"c{i}: -1" for i in range(20_000))
    path = write(
        "train.yaml", f"data: {{dataset: demo}}\nsampling: {{batches: {{condition_ratio: {{{ratio}}}}}}}\n"
    )
    output = _validate(path)
    assert f"{path}: sampling.batches.condition_ratio: weights must be >= 0" in output and len(output) < 2500


def test_a_huge_unknown_key_is_cut_in_the_message(write: Callable[..., Path]) -> None:
    path = write("study.yaml", STUDY + "n_trials: 1\n? " + "k" * 200_000 + "\n: 1\n")  # explicit key
    output = _validate(path)
    assert f"{path}: kkkk" in output and "...: unknown key" in output and len(output) < 1000
