"""Finding the package's deployed files — ``include/`` with the SQL and the default config — in any layout.

The DAGs folder and the plugins folder are not always siblings (MWAA's are; the Helm chart's git-sync,
plugins baked into an image or a custom ``dags_folder`` are not), so ``include/`` is looked up through
Airflow's configured DAGs folder, where the bundle puts it, or an explicit setting — never through
where this package happens to be unpacked.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

INCLUDE_ENV = "MESSAGE_EXPORT_INCLUDE_FOLDER"
INCLUDE_OPTION = ("message_export", "include_folder")
_SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]


class DeploymentError(RuntimeError):
    """A file the package ships with is not where it was deployed; no retry can fix that."""


def _configured(section: str, key: str) -> str | None:
    from airflow.sdk.configuration import conf

    return conf.get(section, key, fallback=None) or None


def include_candidates() -> list[Path]:
    """Where ``include/`` may be, in the order it is looked for."""
    explicit = os.environ.get(INCLUDE_ENV) or _configured(*INCLUDE_OPTION)
    if explicit:
        return [Path(explicit)]  # a deliberate setting is the only place looked at
    candidates = []
    dags_folder = _configured("core", "dags_folder")
    if dags_folder:
        # the bundle's layout (<dags>/include) and the source checkout's (include/ beside dags/)
        candidates += [Path(dags_folder) / "include", Path(dags_folder).parent / "include"]
    candidates.append(_SOURCE_CHECKOUT / "include")
    return list(dict.fromkeys(candidates))


def include_root() -> Path:
    """Return the deployed ``include/`` folder; raise :class:`DeploymentError` saying where it looked."""
    candidates = include_candidates()
    for candidate in candidates:
        if (candidate / "sql").is_dir():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise DeploymentError(
        f"the package's include/ folder (sql/ and config/) was not found; looked in: {searched}. Deploy the "
        f"bundle's dags/include/ into Airflow's DAGs folder next to message_export.py, or point "
        f"[{INCLUDE_OPTION[0]}] {INCLUDE_OPTION[1]} (or ${INCLUDE_ENV}) at the folder"
    )


def include_path(relative: str) -> Path:
    return include_root() / relative


@cache
def load_sql(name: str) -> str:
    """Return the statement in ``include/sql/<name>.sql`` without comment lines."""
    path = include_path(f"sql/{name}.sql")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeploymentError(
            f"SQL file {path} is missing; deploy the complete include/sql/ folder of this package version"
        ) from None
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";")
