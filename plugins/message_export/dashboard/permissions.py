"""What the logged-in user may do on the dashboard, asked of Airflow's own auth manager.

The page offers an action only when Airflow would allow it: re-exporting a day starts a DAG run
(``POST /api/v2/dags/{dag_id}/dagRuns``), which Airflow grants to whoever may create the DAG's runs.
The same question is asked here, of the same auth manager (simple, FAB, or MWAA's IAM-backed one),
with the DAG's team, so the page and the API never disagree.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.models.dag import DagModel

from message_export.names import DAG_ID


def may_start_runs(user: Any) -> bool:
    """Whether ``user`` may start runs of the export DAG (and so re-export a day from the page)."""
    return get_auth_manager().is_authorized_dag(
        method="POST",
        access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=DAG_ID, team_name=DagModel.get_team_name(DAG_ID)),
        user=user,
    )


def abilities(user: Any) -> dict[str, Any]:
    """The page's view of the user: who they are and which of its actions it may offer them."""
    return {"user": user.get_name(), "dag_id": DAG_ID, "can_export": may_start_runs(user)}
