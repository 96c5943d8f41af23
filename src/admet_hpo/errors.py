"""User-facing errors.

Every problem caused by a user's input (a config file, a data table, a search space) is raised as an
:class:`AdmetHpoError` subclass whose message names the file, the key or column, the offending rows and
what was expected. The CLI prints these messages without a traceback; anything else is a bug.
"""

from __future__ import annotations


class AdmetHpoError(Exception):
    """Base class of errors whose message is meant for the user, not a traceback."""


class ConfigError(AdmetHpoError):
    """A configuration or search-space file is malformed (names the file and the key)."""


class DataValidationError(AdmetHpoError):
    """A data table does not satisfy its specification (names the file, column and rows)."""


class DataFetchError(AdmetHpoError):
    """A known public data set could not be fetched or failed its checksum."""


#: At most this many characters of a user's value are quoted in a message.
SHOWN_CHARACTERS = 60


def shown(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """A bounded ``repr`` of ``value`` for messages: long strings and big or deep containers are cut
    (``'CCCC...'``, ``[1, 2, ...]``) so a huge cell or an expanded YAML value never floods the terminal;
    the cost is bounded too (containers are not rendered beyond a few items and levels)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    short.maxlist = short.maxtuple = short.maxset = short.maxdict = 6
    short.maxlevel = 3
    text = short.repr(value)
    return text if len(text) <= limit + 8 else text[:limit] + "..."


def describe_os_error(error: OSError) -> str:
    """One line for an :class:`OSError` on a path: ``path: reason`` (``path -> other: reason`` for a
    rename or copy), e.g. ``runs/x/optuna.db: Permission denied``; the reason is the system's text."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return reason
    where = str(error.filename) if error.filename2 is None else f"{error.filename} -> {error.filename2}"
    return f"{where}: {reason}"


def non_utf8_position(data: bytes) -> str | None:
    """Where ``data`` stops being UTF-8 (a leading byte-order mark allowed), for messages:
    ``byte 0xe9 at byte offset 212 (line 9, column 17)``; ``None`` when it is valid UTF-8."""
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return f"byte 0x{data[exc.start]:02x} at byte offset {exc.start} (line {line}, column {column})"
    return None
