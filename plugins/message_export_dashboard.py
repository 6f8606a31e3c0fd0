"""Airflow plugin: the message_export dashboard inside the Airflow UI.

Airflow's plugin manager imports every ``.py`` file of the plugins folder (``.airflowignore`` keeps
it out of the ``message_export`` package), so this module stays at the top of the folder, locally
and in plugins.zip, and imports nothing heavy: the FastAPI app is built when the api-server asks.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from message_export.names import DASHBOARD_URL_PREFIX


class MessageExportDashboardPlugin(AirflowPlugin):
    name = "message_export_dashboard"
    external_views = [  # noqa: RUF012 - the plugin manager reads class attributes
        {
            "name": "Message export",
            "href": f"{DASHBOARD_URL_PREFIX}/",
            "destination": "nav",
            "url_route": "message-export",
            "category": "browse",
        },
        {
            "name": "Export dashboard",
            "href": f"{DASHBOARD_URL_PREFIX}/?dag_id={{DAG_ID}}",
            "destination": "dag",
            "url_route": "message-export-dag",
        },
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from message_export.dashboard.app import create_app

        return [{"app": create_app(), "url_prefix": DASHBOARD_URL_PREFIX, "name": "message_export dashboard"}]
