"""The dashboard's FastAPI app, mounted by the api-server under ``names.DASHBOARD_URL_PREFIX``.

A mounted app does not inherit the core API's checks: every route depends on the auth manager
granting the user read access to the DAG's runs. Authentication is Airflow's own (the UI's
``_token`` cookie or a Bearer token), so the page works inside the UI and the JSON through the API.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from message_export.config import ConfigError
from message_export.dashboard.airflow_runs import run_times
from message_export.dashboard.calendar import PageError
from message_export.dashboard.cursors import MAX_CURSOR_LENGTH
from message_export.dashboard.permissions import abilities
from message_export.dashboard.reader import MAX_ROWS_PER_PAGE, DashboardReader
from message_export.dashboard.trends import MAX_TREND_DAYS
from message_export.hooks.archive import ArchiveError
from message_export.ledger.errors import MessageNotArchived, TrackingError
from message_export.names import DAG_ID

STATIC = Path(__file__).resolve().parent / "static"
# The page loads only its own script and style; ids and reasons are inserted as text by the script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATIC_MEDIA = {
    "dashboard.js": "text/javascript",
    "charts.js": "text/javascript",
    "theme.js": "text/javascript",
    "dashboard.css": "text/css",
}

can_read_runs = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID))


@cache
def _reader() -> DashboardReader:
    return DashboardReader.from_config_file()


def _answer(work: Any) -> Any:
    """Run a read; turn bad paging and ledger trouble into clear HTTP errors (never a connection secret)."""
    try:
        return work()
    except PageError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    except (ConfigError, TrackingError) as error:
        raise HTTPException(status_code=503, detail=f"the export ledger cannot be read: {error}") from None


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"day {value!r} is not a date; use YYYY-MM-DD") from None


def create_app() -> FastAPI:
    """Build the dashboard app; every route requires read access to the DAG's runs."""
    app = FastAPI(
        title="message_export dashboard",
        description="Days, batches and failed messages of the message_export ledger.",
        dependencies=[can_read_runs],
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"), headers=SECURITY_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        media = STATIC_MEDIA.get(name)
        if media is None:
            raise HTTPException(status_code=404, detail=f"no asset {name!r}")
        return FileResponse(STATIC / name, media_type=media, headers=SECURITY_HEADERS)

    @app.get("/api/me")
    def me(user: GetUserDep) -> dict[str, Any]:
        """Who is asking and which actions the page may offer them (asked of Airflow's auth manager)."""
        return abilities(user)

    @app.get("/api/days")
    def days(
        page: Annotated[int, Query(ge=1)] = 1, per_page: Annotated[int, Query(ge=1, le=366)] = 31
    ) -> dict[str, Any]:
        """One page of days, newest first: status, progress, reconciliation, and the days not exported."""
        return _answer(lambda: _reader().days(page, per_page))

    @app.get("/api/days/{day}")
    def day(
        day: str,
        per_page: Annotated[int, Query(ge=1, le=MAX_ROWS_PER_PAGE)] = 50,
        batches_after: Annotated[int | None, Query(ge=0)] = None,
        failures_after: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    ) -> dict[str, Any]:
        """One day: its figures, a page of its batches and a page of its failed messages. The next
        pages start after the ``next_after`` of each list (keyset paging: no page is read twice)."""
        wanted = _parse_day(day)
        answer = _answer(
            lambda: _reader().day(wanted, per_page=per_page, batches_after=batches_after, failures_after=failures_after)
        )
        if answer is None:
            raise HTTPException(status_code=404, detail=f"day {wanted} is neither exported nor due")
        return answer

    @app.get("/api/trends")
    def trends(days: Annotated[int, Query(ge=1, le=MAX_TREND_DAYS)] = 30) -> dict[str, Any]:
        """A point per day of the last ``days`` due days, oldest first: archived and failed messages,
        the last run's duration and how long after the day ended its export finished."""
        return _answer(lambda: _reader().trends(days, run_times))

    @app.get("/api/messages/document")
    def document(message_id: Annotated[str, Query(min_length=1, max_length=512)]) -> Response:
        """The message's archived JSON document, exactly the bytes archived (one Range GET in the batch
        layout), checked against the SHA-256 the ledger recorded."""
        try:
            body = _answer(lambda: _reader().document(message_id))
        except MessageNotArchived as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        except ArchiveError as error:
            raise HTTPException(status_code=502, detail=f"the archive could not be read: {error}") from None
        return Response(body, media_type="application/json", headers=SECURITY_HEADERS)

    @app.get("/api/messages")
    def message(message_id: Annotated[str, Query(min_length=1, max_length=512)]) -> dict[str, Any]:
        """Where a message is archived (its s3:// URI) or why it is not."""
        return _answer(lambda: _reader().message(message_id))

    return app
