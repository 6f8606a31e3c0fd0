"""Who may do what, through the REST API the page calls, under the real api-server and auth manager
(the simple auth manager in multi-team mode; see conftest.py for the users)."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import DAG_ID, PREFIX, DashboardStack
from tests.dashboard.test_http import concrete_paths


@pytest.mark.parametrize(("username", "can_export"), [("admin", True), ("operator", True), ("viewer", False)])
def test_the_page_is_told_which_actions_the_user_may_take(
    dashboard_stack: DashboardStack, username: str, can_export: bool
) -> None:
    client = dashboard_stack.client(username)
    assert client.json("get", f"{PREFIX}/api/me") == {"user": username, "dag_id": DAG_ID, "can_export": can_export}
    days = client.get(f"{PREFIX}/api/days", params={"per_page": 5})
    assert days.status_code == 200 and len(days.json()["days"]) == 5  # every role sees every figure


def test_a_viewer_cannot_start_a_run_behind_the_pages_back(dashboard_stack: DashboardStack) -> None:
    viewer = dashboard_stack.client("viewer")
    day = dashboard_stack.ledger.shape.first_day
    refused = viewer.post(
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"start_date": str(day), "reprocess": True}},
    )
    assert refused.status_code == 403, refused.text
    runs = dashboard_stack.client().dag_runs(DAG_ID)
    assert all(run["triggering_user_name"] != "viewer" for run in runs)


def test_a_user_without_access_to_the_dag_is_refused_by_every_route(dashboard_stack: DashboardStack) -> None:
    outsider = dashboard_stack.client("outsider")
    assert outsider.get(f"/api/v2/dags/{DAG_ID}").status_code == 403  # Airflow's own verdict on this user
    for path in concrete_paths():
        answer = outsider.get(path, params={"message_id": "x"})
        assert answer.status_code == 403, (path, answer.status_code, answer.text[:200])
