"""Airflow's plugin manager finds the dashboard plugin in the plugins folder and in the unpacked
plugins.zip, without importing the package's modules as stray top-level modules or building the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.mwaa_bundle import build_bundle, unpack_bundle
from tests.conftest import REPO

PROBE = """
import json, sys
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({
    "plugins": [p.name for p in plugins],
    "errors": errors,
    "stray": sorted(m for m in ("pipeline", "config", "tracking", "reader", "app", "__init__") if m in sys.modules),
    "app_built": "message_export.dashboard.app" in sys.modules,
    "prefixes": [a["url_prefix"] for p in plugins for a in p.fastapi_apps],
}))
"""


def _discover(plugins_folder: Path, home: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__CORE__PLUGINS")}
    env |= {"AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder), "AIRFLOW_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False, cwd=home, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("source", ["plugins folder", "plugins.zip"])
def test_plugin_manager_finds_only_the_dashboard_plugin(source: str, tmp_path: Path) -> None:
    plugins_folder = REPO / "plugins"
    if source == "plugins.zip":
        plugins_folder = tmp_path / "plugins"
        unpack_bundle(build_bundle(tmp_path / "bundle"), tmp_path / "dags", plugins_folder)
        assert (plugins_folder / ".airflowignore").is_file()
    found = _discover(plugins_folder, tmp_path)
    assert found["plugins"] == ["message_export_dashboard"] and found["errors"] == {}
    assert found["stray"] == []  # .airflowignore keeps the manager out of the message_export package
    assert found["app_built"] is False  # loading plugins (scheduler, workers) does not build the app
    assert found["prefixes"] == ["/message-export"]  # the api-server's access builds it
