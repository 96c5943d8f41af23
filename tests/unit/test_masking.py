"""Credential masking in URLs, free text and log records."""

from __future__ import annotations

import io
import logging
from pathlib import PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admet_hpo.masking import (
    SecretMaskingFilter,
    add_secret_masking,
    mask_data,
    mask_text,
    mask_url,
    mask_url_secret_in,
)

SCHEMES = st.sampled_from(["postgresql", "postgresql+psycopg", "mysql+pymysql", "http", "https", "sqlite"])
USERS = st.text(st.characters(codec="utf-8", exclude_characters=":/@\x00"), min_size=1, max_size=12)
HOSTS = st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z]{2,5})?", fullmatch=True)
PORTS = st.integers(min_value=1, max_value=65535)
PATHS = st.from_regex(r"[A-Za-z0-9_.\-/]{0,20}", fullmatch=True)
# Anything at all may be in a password, including the URL delimiters people forget to percent-encode.
PASSWORDS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=24)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://bob:s3cret@db:5432/optuna", "postgresql+psycopg://bob:***@db:5432/optuna"),
        ("https://alice:pa%40ss@mlflow.example.org/", "https://alice:***@mlflow.example.org/"),
        ("postgresql://bob:p@ss:w/rd#?@db/optuna", "postgresql://bob:***@db/optuna"),
        ("postgresql://me@corp.com:pw@db/x", "postgresql://me@corp.com:***@db/x"),
        ("postgresql://db/optuna?user=bob&password=s3cret", "postgresql://db/optuna?user=bob&password=***"),
        ("http://host/api?token=abc&x=1", "http://host/api?token=***&x=1"),
    ],
)
def test_mask_url_hides_passwords(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////abs/path/optuna.db",
        "sqlite:///relative/optuna.db",
        "sqlite:///:memory:",
        "sqlite:////tmp/we:ird@dir/x.db",
        "file:///tmp/mlruns",
        "http://127.0.0.1:5000",
        "https://mlflow.example.org/#/experiments/1",
        "postgresql://bob@db:5432/optuna",
        "postgresql://bob:@db/optuna",
        "./mlruns",
        "",
    ],
)
def test_mask_url_leaves_urls_without_credentials_alone(url: str) -> None:
    assert mask_url(url) == url


@given(SCHEMES, USERS, PASSWORDS, HOSTS, PORTS, PATHS)
def test_mask_url_replaces_exactly_the_password(
    scheme: str, user: str, password: str, host: str, port: int, path: str
) -> None:
    masked = mask_url(f"{scheme}://{user}:{password}@{host}:{port}/{path}")
    assert masked == f"{scheme}://{user}:***@{host}:{port}/{path}"
    assert mask_url(masked) == masked


@given(SCHEMES, HOSTS, st.one_of(st.none(), PORTS), PATHS)
def test_mask_url_is_identity_without_credentials(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/{path}"
    assert mask_url(url) == url


def _no_space(text: str) -> bool:
    return not any(character.isspace() for character in text)


# Inside free text a URL ends at whitespace, so user and password are generated without it there.
@given(SCHEMES, USERS.filter(_no_space), PASSWORDS.filter(_no_space), HOSTS, PATHS)
def test_mask_text_masks_urls_inside_messages(
    scheme: str, user: str, password: str, host: str, path: str
) -> None:
    message = f"could not connect to '{scheme}://{user}:{password}@{host}/{path}': timeout (attempt 2)"
    assert (
        mask_text(message)
        == f"could not connect to '{scheme}://{user}:***@{host}/{path}': timeout (attempt 2)"
    )


def test_mask_text_masks_several_urls_and_dsn_parameters() -> None:
    text = "storage=postgresql://a:one@h1/db tracking=https://b:two@h2 dsn: host=h3 password=three user=c"
    masked = mask_text(text)
    assert (
        masked
        == "storage=postgresql://a:***@h1/db tracking=https://b:***@h2 dsn: host=h3 password=*** user=c"
    )


def test_filter_masks_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("admet_hpo.test_urls")
    logger.propagate = False
    logger.addHandler(handler)
    add_secret_masking(logger)
    add_secret_masking(logger)  # idempotent per handler
    try:
        try:
            raise ConnectionError("refused: postgresql://u:tracebacksecret@db/x")
        except ConnectionError:
            logger.exception("storage %s failed", "postgresql://u:argsecret@db/x")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "argsecret" not in output
    assert "tracebacksecret" not in output
    assert "storage postgresql://u:***@db/x failed" in output
    assert "ConnectionError: refused: postgresql://u:***@db/x" in output
    assert sum(isinstance(f, SecretMaskingFilter) for f in handler.filters) == 1


def test_filter_lets_malformed_log_calls_through_unchanged() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("not a number",), None)
    assert SecretMaskingFilter().filter(record) is True
    assert record.args == ("not a number",)


def test_mask_data_masks_nested_strings_and_paths() -> None:
    data = {"storage": "postgresql://u:pw@h/db", 3: [PurePath("/x/y"), ("sqlite:///a.db", 1.5, None)]}
    assert mask_data(data) == {
        "storage": "postgresql://u:***@h/db",
        "3": ["/x/y", ["sqlite:///a.db", 1.5, None]],
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://u:s3cr@t:pw@127.0.0.1:5499/db",
            "invalid literal for int() with base 10: 'pw@127.0.0.1:5499'",
        ),
        ("postgresql://u:hunter2@db/x", "auth failed for hunter2 at postgresql://u:hunter2@db/x"),
        ("sqlite:////tmp/no/secret.db", "unable to open database file"),
    ],
)
def test_url_secret_fragments_are_masked_in_driver_messages(url: str, message: str) -> None:
    masked = mask_url_secret_in(message, url)
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    for piece in {password, *password.replace("@", ":").split(":")} - {""}:
        if len(piece) >= 2:
            assert piece not in masked
    if not password:
        assert masked == message
