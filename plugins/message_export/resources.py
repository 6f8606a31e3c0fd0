"""Locating the package's SQL and config files locally and on MWAA."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve()
# Locally `include/` sits next to `plugins/`; on MWAA (no include mount) it ships in the DAGs
# folder as `dags/include/` while the plugins unpack to /usr/local/airflow/plugins.
_CANDIDATES = (
    _HERE.parents[2] / "include",
    _HERE.parents[2] / "dags" / "include",
)


def include_root() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "sql").is_dir():
            return candidate
    searched = ", ".join(str(c) for c in _CANDIDATES)
    raise FileNotFoundError(
        f"include/ folder with sql/ not found (searched {searched}); deploy include/ with the package"
    )


def include_path(relative: str) -> Path:
    return include_root() / relative


@cache
def load_sql(name: str) -> str:
    """Return the statement in ``include/sql/<name>.sql`` without comment lines."""
    text = include_path(f"sql/{name}.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";")
