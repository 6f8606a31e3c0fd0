"""What Airflow knows the export by: the DAG's id and the dashboard's URL prefix.

The DAG file, the dashboard plugin and the dashboard app import them from here; the module holds
nothing else, so importing it at parse time or while the plugin manager loads costs nothing.
"""

from __future__ import annotations

DAG_ID = "message_export"
# where the api-server mounts the dashboard app; the UI's links to it start with it too
DASHBOARD_URL_PREFIX = "/message-export"
