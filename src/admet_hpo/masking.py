"""Hiding credentials in storage and tracking URLs, and in any text that may contain such URLs.

The rule favours over-masking: in ``scheme://user:password@host...`` everything between the first ``:``
after the user name and the *last* ``@`` of the URL is replaced by ``***``. A password may therefore
contain raw ``@``, ``:``, ``/``, ``?`` or ``#`` (people paste such URLs) and still never leak; the price is
that a URL which also has an ``@`` in its path or query is shown with less of its host part. Query or DSN
parameters that carry secrets (``password=``, ``token=``, ...) are masked as well. Nothing here imports
anything heavier than the standard library.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Mapping
from pathlib import PurePath
from types import TracebackType
from typing import Any

MASK = "***"

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
_URL_PREFIX = re.compile(_SCHEME)
# A URL inside free text starts at a scheme not glued to a preceding word and runs to the next whitespace.
_URL_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9+.\-]){_SCHEME}\S*")
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:password|passwd|pwd|secret|token|access[_-]?token|api[_-]?key)=)"
    r"[^\s&#;,'\"]+"
)


def _mask_userinfo(after_scheme: str) -> str:
    """Mask the password of ``user:password@rest``; text without ``user:password@`` is returned as is."""
    at = after_scheme.rfind("@")
    if at < 0:
        return after_scheme
    user, colon, password = after_scheme[:at].partition(":")
    if not colon or not password or "/" in user:
        # No password, or the ``:`` belongs to a path (``/a:b@c``) rather than to a user name.
        return after_scheme
    return f"{user}:{MASK}{after_scheme[at:]}"


def mask_url(url: str) -> str:
    """Return ``url`` with its password (and secret query parameters) replaced by ``***``.

    ``postgresql+psycopg://bob:s3cret@db:5432/optuna`` becomes ``postgresql+psycopg://bob:***@db:5432/optuna``.
    URLs without credentials (``sqlite:////abs/x.db``, ``http://host:5000``, plain paths) come back unchanged,
    and masking is idempotent.
    """
    prefix = _URL_PREFIX.match(url)
    if prefix is not None:
        url = url[: prefix.end()] + _mask_userinfo(url[prefix.end() :])
    return _SECRET_PARAMETER.sub(rf"\g<1>{MASK}", url)


def mask_text(text: str) -> str:
    """Mask every URL (see :func:`mask_url`) and every ``password=...``-style parameter inside ``text``.

    Use it on error messages and anything else that is printed, logged or stored as a tag or attribute.
    """
    masked = _URL_IN_TEXT.sub(lambda match: mask_url(match.group()), text)
    return _SECRET_PARAMETER.sub(rf"\g<1>{MASK}", masked)


def mask_url_secret_in(text: str, url: str) -> str:
    """:func:`mask_text` of ``text``, and every piece of ``url``'s password removed from it.

    A driver's error about a malformed URL (say, a password with an unescaped ``@`` or ``:``) quotes
    fragments of it that no longer look like a URL; those fragments (split at ``@``, ``:`` and ``/``,
    two characters or more) are masked too.
    """
    masked = mask_text(text)
    _, separator, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0] if separator else ""
    password = userinfo.partition(":")[2]
    pieces = {password, *re.split(r"[@:/]", password)}
    for piece in sorted((p for p in pieces if len(p) >= 2), key=len, reverse=True):
        masked = masked.replace(piece, MASK)
    return masked


def mask_data(value: Any) -> Any:
    """``value`` with :func:`mask_text` applied to every string (and path) inside it; mappings and
    sequences are rebuilt as dicts (string keys) and lists, other values are returned as they are."""
    if isinstance(value, Mapping):
        return {str(key): mask_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item) for item in value]
    if isinstance(value, str | PurePath):
        return mask_text(str(value))
    return value


class SecretMaskingFilter(logging.Filter):
    """A logging filter that masks credentials in the rendered message and in the formatted traceback.

    The message is rendered once (``record.getMessage()``), masked and stored back without arguments; a
    traceback is formatted, masked and kept as ``exc_text`` (``exc_info`` is dropped so handlers that render
    exceptions themselves cannot bypass the mask). Records are never suppressed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed log call: leave it to the handler's own error reporting, do not raise from here.
            return True
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def add_secret_masking(logger: logging.Logger | None = None) -> SecretMaskingFilter:
    """Attach one :class:`SecretMaskingFilter` to every handler of ``logger``; by default to every
    handler of every logger that exists now (the root logger's, ours, and the handlers Optuna, MLflow
    and Lightning install on their own loggers, which do not propagate to the root's).

    Handler filters also see records propagated from child loggers, which logger filters do not. Records
    created after :func:`install_secret_masking` are masked when created, whatever handler prints them.
    """
    masking = SecretMaskingFilter()
    if logger is not None:
        loggers = [logger]
    else:
        existing = logging.Logger.manager.loggerDict.values()
        loggers = [logging.getLogger(), *(item for item in existing if isinstance(item, logging.Logger))]
    for each in loggers:
        for handler in each.handlers:
            if not any(isinstance(existing, SecretMaskingFilter) for existing in handler.filters):
                handler.addFilter(masking)
    return masking


def _masked_traceback(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """``sys.excepthook``: Python's own traceback text, with credentials masked, on stderr."""
    sys.stderr.write(mask_text("".join(traceback.format_exception(exc_type, exc, tb))))


def _masked_thread_traceback(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: as :func:`_masked_traceback`, headed by the thread's name."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "unknown"
    sys.stderr.write(f"Exception in thread {name}:\n")
    _masked_traceback(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)


def install_secret_masking() -> None:
    """Mask credentials in everything this process prints about itself, once per process:

    - every log record when it is created (any logger, any handler, handlers added later: Optuna's
      stderr handler, MLflow's, Lightning's, ours), via the log-record factory, plus a
      :class:`SecretMaskingFilter` on every handler that exists now (:func:`add_secret_masking`);
    - warnings (``warnings.formatwarning``);
    - uncaught exceptions of the main thread (``sys.excepthook``) and of other threads
      (``threading.excepthook``): the traceback is Python's own, masked.

    Storage and tracking URLs alike are masked by :func:`mask_text`. Calling it again changes nothing.
    """
    global _installed
    if _installed:
        return
    _installed = True
    masking = SecretMaskingFilter()
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        masking.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
    add_secret_masking()
    format_warning = warnings.formatwarning

    def masked_warning(*args: Any, **kwargs: Any) -> str:
        return mask_text(format_warning(*args, **kwargs))

    warnings.formatwarning = masked_warning
    sys.excepthook = _masked_traceback
    threading.excepthook = _masked_thread_traceback


_installed = False
