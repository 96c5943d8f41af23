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
