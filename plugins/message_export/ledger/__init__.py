"""The export ledger in MySQL: jobs, batches and the status of every message.

``MessageTrackingHook`` is imported lazily, so the pure records and errors can be imported (by the
DAG's callbacks, at parse time) without loading the MySQL provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from message_export.ledger.errors import TrackingError, TrackingUnavailableError

if TYPE_CHECKING:
    from message_export.ledger.hook import MessageTrackingHook

__all__ = ["MessageTrackingHook", "TrackingError", "TrackingUnavailableError"]


def __getattr__(name: str) -> Any:
    if name == "MessageTrackingHook":
        from message_export.ledger.hook import MessageTrackingHook

        return MessageTrackingHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
