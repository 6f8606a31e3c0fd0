"""The dashboard's JSON endpoints through HTTP against the real api-server (plugin loaded from plugins/)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from message_export.dashboard.app import create_app
from tests.dashboard.conftest import DAG_ID, PREFIX, DashboardStack
from tests.dashboard.ledger_fixtures import HOSTILE_IDS, HOSTILE_REASON


def concrete_paths() -> list[str]:
    """Every route of the app, with a value for each path parameter."""
    paths = []
    for route in create_app().routes:
        path = getattr(route, "path", "")
        if path.startswith(("/openapi", "/docs", "/redoc")):
            continue
        paths.append(PREFIX + path.replace("{day}", "2024-01-01").replace("{name}", "dashboard.js"))
    return paths


def test_every_route_refuses_anonymous_and_forged_users(dashboard_stack: DashboardStack) -> None:
    paths = concrete_paths()
    assert {f"{PREFIX}/", f"{PREFIX}/api/days", f"{PREFIX}/api/messages"} <= set(paths)
    anonymous = dashboard_stack.anonymous()
    for path in paths:
        answer = anonymous.get(path, params={"message_id": "x"})
        assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
        forged = anonymous.get(path, params={"message_id": "x"}, headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code in (401, 403), (path, forged.status_code)
        cookie = anonymous.get(path, params={"message_id": "x"}, cookies={"_token": "forged"})
        assert cookie.status_code in (401, 403), (path, cookie.status_code)


def test_the_plugin_is_registered_with_its_views(dashboard_stack: DashboardStack) -> None:
    plugins = dashboard_stack.client().json("get", "/api/v2/plugins")["plugins"]
    ours = next(p for p in plugins if p["name"] == "message_export_dashboard")
    destinations = {view["destination"]: view for view in ours["external_views"]}
    assert destinations["nav"]["href"] == f"{PREFIX}/" and destinations["nav"]["url_route"]
    assert destinations["dag"]["href"] == f"{PREFIX}/?dag_id={{DAG_ID}}"
    assert [app["url_prefix"] for app in ours["fastapi_apps"]] == [PREFIX]


def test_days_answer_pages_the_calendar_with_live_counts(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    answer = client.json("get", f"{PREFIX}/api/days", params={"per_page": 5})
    assert answer["pages"] == 2 and len(answer["days"]) == 5
    assert answer["summary"]["not_exported_days"] == 3
    newest = answer["days"][0]
    assert newest["day"] == ledger.hostile_day.isoformat() and newest["status"] == "running"
    assert newest["counts"] == {"completed": 2, "failed": 5, "pending": 1, "total": 8}
    older = client.json("get", f"{PREFIX}/api/days", params={"per_page": 5, "page": 2})["days"]
    assert [d["status"] for d in older[-3:]] == ["not_exported"] * 3
    settled = older[-4]
    assert settled["elasticsearch_count"] == 1200 and settled["archived_objects"] == 1196
    assert settled["run_url"] == f"/dags/message_export/runs/{quote(settled['dag_run_id'], safe='')}"


def test_bad_input_is_a_clear_error(dashboard_stack: DashboardStack) -> None:
    client = dashboard_stack.client()
    past = client.get(f"{PREFIX}/api/days", params={"page": 99})
    assert past.status_code == 422 and "past the last page" in past.json()["detail"]
    not_a_day = client.get(f"{PREFIX}/api/days/yesterday")
    assert not_a_day.status_code == 422 and "'yesterday' is not a date" in not_a_day.json()["detail"]
    future = dashboard_stack.now.date() + timedelta(days=5)
    assert client.get(f"{PREFIX}/api/days/{future}").status_code == 404
    assert client.get(f"{PREFIX}/api/days", params={"per_page": 1000}).status_code == 422
    bad_cursor = client.get(f"{PREFIX}/api/days/{dashboard_stack.ledger.hostile_day}", params={"failures_after": "x"})
    assert bad_cursor.status_code == 422 and "not a cursor this dashboard gave out" in bad_cursor.json()["detail"]


def test_day_answer_lists_batches_and_hostile_failures_verbatim(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    day = client.json("get", f"{PREFIX}/api/days/{ledger.hostile_day}", params={"per_page": 50})
    assert [b["batch_number"] for b in day["batches"]["items"]] == [0, 1]
    assert day["batches"]["items"][1]["counts"] == {"completed": 2, "failed": 0, "pending": 1, "total": 3}
    failures = day["failures"]["items"]
    assert sorted(f["message_id"] for f in failures) == sorted(HOSTILE_IDS)
    assert {f["reason"] for f in failures} == {HOSTILE_REASON}
    page_one = client.json("get", f"{PREFIX}/api/days/{ledger.hostile_day}", params={"per_page": 2})
    after = page_one["failures"]["next_after"]
    page_two = client.json(
        "get", f"{PREFIX}/api/days/{ledger.hostile_day}", params={"per_page": 2, "failures_after": after}
    )
    assert [f["message_id"] for f in page_two["failures"]["items"]] == [f["message_id"] for f in failures[2:4]]


@pytest.mark.parametrize("message_id", HOSTILE_IDS)
def test_search_answers_for_hostile_ids_exactly(dashboard_stack: DashboardStack, message_id: str) -> None:
    answer = dashboard_stack.client().json("get", f"{PREFIX}/api/messages", params={"message_id": message_id})
    assert answer["found"] is True and answer["message_id"] == message_id
    assert answer["status"] == "failed" and HOSTILE_REASON in answer["answer"]


def test_search_answers_the_s3_uri_or_why_not(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    archived = client.json("get", f"{PREFIX}/api/messages", params={"message_id": ledger.archived_id})
    assert archived["s3_uri"] == ledger.archived_uri and archived["answer"] == f"archived at {ledger.archived_uri}"
    missing = client.json("get", f"{PREFIX}/api/messages", params={"message_id": "trailing"})  # stored with spaces
    assert missing["found"] is False and "not tracked" in missing["answer"]


def test_no_secret_reaches_an_answer(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    answers = [
        client.get(f"{PREFIX}/"),
        client.get(f"{PREFIX}/static/dashboard.js"),
        client.get(f"{PREFIX}/api/days", params={"per_page": 366}),
        client.get(f"{PREFIX}/api/days/{ledger.hostile_day}"),
        client.get(f"{PREFIX}/api/messages", params={"message_id": ledger.archived_id}),
    ]
    assert all(a.status_code == 200 for a in answers)
    for answer in answers:
        assert dashboard_stack.mysql_password not in answer.text
        assert "ro-secret" not in answer.text and "password" not in answer.text.lower()


def test_page_is_served_with_a_strict_content_security_policy(dashboard_stack: DashboardStack) -> None:
    page = dashboard_stack.client().get(f"{PREFIX}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'self'" in policy


def test_trends_give_a_point_per_due_day_as_the_days_list_counts_them(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    trends = client.json("get", f"{PREFIX}/api/trends", params={"days": 30})
    first_due = ledger.shape.first_day - timedelta(days=3)  # the configured start date: no earlier day is due
    assert (trends["first_day"], trends["last_day"]) == (str(first_due), str(ledger.hostile_day))
    points = trends["points"]
    assert [p["day"] for p in points] == [str(first_due + timedelta(days=n)) for n in range(len(points))]
    assert points[-1]["day"] == str(ledger.hostile_day)
    days = {d["day"]: d for d in client.json("get", f"{PREFIX}/api/days", params={"per_page": 31})["days"]}
    for point in points:
        day = days[point["day"]]
        assert point["status"] == day["status"], point
        if day["status"] == "not_exported":
            assert (point["archived"], point["failed"], point["finished"]) == (None, None, False)
            assert point["days_behind"] > 0  # waiting since its window ended
        else:
            assert (point["archived"], point["failed"]) == (day["counts"]["completed"], day["counts"]["failed"])
    assert [p["status"] for p in points[:3]] == ["not_exported"] * 3
    assert len(client.json("get", f"{PREFIX}/api/trends", params={"days": 2})["points"]) == 2
    too_long = client.get(f"{PREFIX}/api/trends", params={"days": 400})
    assert too_long.status_code == 422


def test_trends_join_each_day_with_airflows_record_of_its_run(dashboard_stack: DashboardStack) -> None:
    """A day whose last run Airflow knows gets that run's duration and finish; the run here is a real
    one, created through the REST API and marked failed by it, and the day's job row is pointed at it."""
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    day = ledger.shape.first_day + timedelta(days=2)
    run = client.json("post", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {}})
    client.json("patch", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
    run = client.json("get", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}")
    assert run["end_date"]
    with ledger.admin_cursor() as cursor:
        cursor.execute(
            "SELECT dag_run_id FROM job_runs WHERE start_date = %s", (datetime.combine(day, datetime.min.time()),)
        )
        (generated_run_id,) = cursor.fetchone()
        cursor.execute(
            "UPDATE job_runs SET dag_run_id = %s WHERE dag_run_id = %s", (run["dag_run_id"], generated_run_id)
        )
    try:
        points = client.json("get", f"{PREFIX}/api/trends", params={"days": 30})["points"]
    finally:
        with ledger.admin_cursor() as cursor:
            cursor.execute(
                "UPDATE job_runs SET dag_run_id = %s WHERE dag_run_id = %s", (generated_run_id, run["dag_run_id"])
            )
    point = next(p for p in points if p["day"] == str(day))
    ended = datetime.fromisoformat(run["end_date"])
    expected_behind = (
        ended - datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    ).total_seconds()
    assert point["finished"] is True and point["days_behind"] == round(expected_behind / 86_400, 2)
    if run["start_date"]:
        started = datetime.fromisoformat(run["start_date"])
        assert point["duration_seconds"] == round((ended - started).total_seconds(), 3)
    else:
        assert point["duration_seconds"] is None  # never started: no duration to show
    others = [p for p in points if p["status"] in ("completed", "failed") and p["day"] != str(day)]
    assert others and all(p["duration_seconds"] is None and p["days_behind"] is None for p in others)


def test_an_archived_message_says_its_object_and_byte_range_in_either_layout(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client(), dashboard_stack.ledger
    whole = client.json("get", f"{PREFIX}/api/messages", params={"message_id": ledger.archived_id})["where"]
    assert whole["layout"] == "message" and whole["s3_uri"] == ledger.archived_uri
    assert (whole["offset"], whole["length"], whole["range"]) == (None, None, None)
    assert whole["fetch_command"] == "python -m message_export.fetch archived-1"
    member = ledger.member
    where = client.json("get", f"{PREFIX}/api/messages", params={"message_id": member.message_id})["where"]
    assert where["layout"] == "batch" and where["s3_uri"] == member.s3_uri
    assert (where["offset"], where["length"]) == (member.offset, member.length) and member.offset > 0
    assert where["range"] == f"bytes={member.offset}-{member.offset + member.length - 1}"
    assert (where["size"], where["sha256"]) == (len(member.document), hashlib.sha256(member.document).hexdigest())
    failed = client.json("get", f"{PREFIX}/api/messages", params={"message_id": HOSTILE_IDS[0]})
    assert failed["where"] is None


def test_an_archived_document_is_read_back_exactly_from_either_layout(dashboard_stack: DashboardStack) -> None:
    client, ledger = dashboard_stack.client("viewer"), dashboard_stack.ledger
    for message_id, document in ((ledger.archived_id, None), (ledger.member.message_id, ledger.member.document)):
        answer = client.get(f"{PREFIX}/api/messages/document", params={"message_id": message_id})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert json.loads(answer.content)["message_id"] == message_id
        if document is not None:
            assert answer.content == document  # the member's bytes, through one Range GET
    not_yet = client.get(f"{PREFIX}/api/messages/document", params={"message_id": HOSTILE_IDS[0]})
    assert not_yet.status_code == 404 and "tracked but not archived yet (status failed)" in not_yet.json()["detail"]
    unknown = client.get(f"{PREFIX}/api/messages/document", params={"message_id": "no-such-message"})
    assert unknown.status_code == 404 and "is not tracked in the ledger" in unknown.json()["detail"]
