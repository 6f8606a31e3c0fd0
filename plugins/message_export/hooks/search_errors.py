"""The search cluster's failures, typed by whether a later attempt may succeed and whose fault they are."""

from __future__ import annotations

from typing import Any, ClassVar

from elasticsearch import ApiError


def api_reason(error: ApiError) -> str:
    """The cluster's own words for an error answer: ``type: reason`` from its error body."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        kind, reason = body["error"].get("type"), body["error"].get("reason")
        if kind and reason:
            return f"{kind}: {reason}"
        return str(reason or kind)
    return str(error.message)


class SearchError(RuntimeError):
    """The search cluster cannot serve the export; the message says why and what to do.

    ``retryable`` tells whether trying again later can help (the task is retried) or not (it fails).
    """

    retryable: ClassVar[bool] = False


class SearchUnavailableError(SearchError):
    """The cluster could not be reached or kept failing after the client's retries."""

    retryable = True


class PartialResultsError(SearchError):
    """A search answered with failed shards or timed out: its hits are not complete."""

    retryable = True


class SearchAccessError(SearchError):
    """The cluster refused the credentials or the request's signature."""


class SearchCompatibilityError(SearchError):
    """The cluster is a different engine or version than the features the export needs."""


def check_complete(response: Any, what: str) -> None:
    shards = response.get("_shards") or {}
    if response.get("timed_out") or shards.get("failed", 0):
        raise PartialResultsError(
            f"{what}: incomplete results (timed_out={response.get('timed_out')}, "
            f"failed shards={shards.get('failed', 0)} of {shards.get('total', '?')}); will retry"
        )
