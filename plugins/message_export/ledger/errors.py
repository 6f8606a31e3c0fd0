"""The ledger's failures, typed by whether a later attempt may succeed, and MySQL's error codes."""

from __future__ import annotations

from typing import ClassVar

# Lost connection, server gone away, deadlock, lock wait timeout: safe to retry the statement.
TRANSIENT_MYSQL_ERRORS = frozenset({1205, 1213, 2006, 2013, 2055})
ACCESS_DENIED = frozenset({1044, 1045, 1698})  # database / password / no-password access denied
UNKNOWN_DATABASE = 1049
UNREACHABLE = frozenset({2002, 2003, 2005})
NO_SUCH_TABLE = 1146
# A migration step already made (by another worker, or before the ledger recorded its version):
# duplicate column, duplicate index name, nothing to drop.
ALREADY_MIGRATED = frozenset({1060, 1061, 1091})


class TrackingError(RuntimeError):
    """The ledger database cannot be used; the message says why and what to do."""

    retryable: ClassVar[bool] = False


class MessageNotArchived(LookupError):
    """The ledger has no archived copy of a message; the text says what it knows."""


class TrackingUnavailableError(TrackingError):
    """The ledger database could not be reached; a later attempt may succeed."""

    retryable = True


def mysql_error_code(error: BaseException) -> int | None:
    """Return the MySQL error number an exception carries, if any."""
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient(error: BaseException) -> bool:
    """Tell whether retrying the statement on a fresh connection may succeed."""
    return mysql_error_code(error) in TRANSIENT_MYSQL_ERRORS
