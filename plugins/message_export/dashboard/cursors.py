"""Where the next page of a day's failed messages or batches starts (keyset cursors). Pure logic.

A failures cursor is the last shown message id's bytes in URL-safe base64: ids are compared byte by
byte, and an id may hold any byte a query string would mangle (spaces, ``&``, a lone surrogate).
A batches cursor is the last shown batch number itself.
"""

from __future__ import annotations

import base64
import binascii

from message_export.dashboard.calendar import PageError
from message_export.ledger.values import id_bytes

# longer than any cursor of a VARBINARY(512) id
MAX_CURSOR_LENGTH = 700


def failures_cursor(message_id: str) -> str:
    """The cursor of the failures page that follows the one ending with ``message_id``."""
    return base64.urlsafe_b64encode(id_bytes(message_id)).decode("ascii").rstrip("=")


def failure_id_after(cursor: str | None) -> bytes:
    """The message id bytes a failures page starts after (``b""``: the first page)."""
    if not cursor:
        return b""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError(cursor)
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise PageError(
            f"failures_after {cursor[:40]!r} is not a cursor this dashboard gave out; "
            "use the next_after of the previous answer, or leave it out for the first page"
        ) from None


def first_batch_number(after: int | None) -> int:
    """The first batch number of the page that follows the one ending with batch number ``after``."""
    if after is None:
        return 0
    if after < 0:
        raise PageError(f"batches_after {after} is not valid; use the batch_number the previous page ended with")
    return after + 1
