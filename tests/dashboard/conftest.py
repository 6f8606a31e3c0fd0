"""One real Airflow stack for the dashboard's HTTP and browser tests (the stack is the slow part):
login required (``SIMPLE_AUTH_MANAGER_ALL_ADMINS`` off), the plugins folder of this checkout, and a
generated ledger read through a SELECT-only MySQL login.

It runs in multi-team mode so that every kind of user the dashboard meets exists: the DAG's bundle
belongs to the team ``export``; ``admin`` is an admin, ``operator`` an op and ``viewer`` a viewer of
that team, and ``outsider`` a viewer of another team, who may not see the DAG at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.connections import aws_connection
from devstack.local_airflow import AirflowClient, AirflowStack
from devstack.s3.moto_server import ACCESS_KEY, SECRET_KEY, create_bucket, s3_client
from tests.conftest import REPO
from tests.dashboard.ledger_fixtures import (
    ARCHIVE_BUCKET,
    DashboardLedger,
    connection_json_as,
    dashboard_ledger,
    read_only_login,
    recent_shape,
)

DAG_ID = "message_export"
PREFIX = "/message-export"
TEAM = "export"
# username -> (password, the simple auth manager's role and teams)
USERS = {
    "admin": ("admin-password", "admin"),
    "operator": ("operator-password", f"op:{TEAM}"),
    "viewer": ("viewer-password", f"viewer:{TEAM}"),
    "outsider": ("outsider-password", "viewer:audit"),
}
DAGS_BUNDLE = {
    "name": "dags-folder",
    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
    "kwargs": {},
    "team_name": TEAM,
}


@dataclass(frozen=True)
class DashboardStack:
    stack: AirflowStack
    ledger: DashboardLedger
    mysql_password: str
    now: datetime

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    def client(self, username: str = "admin") -> AirflowClient:
        return self.stack.client(username)

    def anonymous(self) -> AirflowClient:
        return AirflowClient(self.stack.base_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, for one test module."""
    from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_system_deps.sh (installs Debian's chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def dashboard_stack(tmp_path_factory: pytest.TempPathFactory, s3_servers: Any) -> Iterator[DashboardStack]:
    now = datetime.now(UTC)
    home = tmp_path_factory.mktemp("dashboard-airflow")
    moto, _ = s3_servers
    create_bucket(moto.url, ARCHIVE_BUCKET)
    archive = s3_client(moto.url)

    def put_object(key: str, body: bytes) -> None:
        archive.put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=body)

    with dashboard_ledger(recent_shape(now), now.date() - timedelta(days=1), put_object) as ledger:
        config = Path(home) / "message_export.yaml"
        config.write_text(
            f"start_date: {ledger.shape.first_day - timedelta(days=3)}\n"
            f"connections:\n  mysql: {ledger.conn_id}\n"
            "elasticsearch:\n  message_index: messages\n"
            "s3:\n  bucket: message-archive\n",
            encoding="utf-8",
        )
        with read_only_login(ledger.database) as (user, password):
            stack = AirflowStack(
                home / "home",
                dags_folder=REPO / "dags",
                plugins_folder=REPO / "plugins",
                env={
                    f"AIRFLOW_CONN_{ledger.conn_id.upper()}": connection_json_as(ledger.database, user, password),
                    "MESSAGE_EXPORT_CONFIG": str(config),
                    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([DAGS_BUNDLE]),
                    # the archive, for a message's document (the dashboard reads; it never writes)
                    "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection(moto.url, ACCESS_KEY, SECRET_KEY)),
                },
                all_admins=False,
                users={user: password for user, (password, _) in USERS.items()},
                roles={user: role for user, (_, role) in USERS.items()},
                teams=(TEAM, "audit"),
            )
            stack.start()
            try:
                stack.wait_for_dag(DAG_ID, timeout=180)
                yield DashboardStack(stack, ledger, password, now)
            finally:
                stack.stop()
