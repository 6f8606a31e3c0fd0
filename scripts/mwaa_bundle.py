"""`make mwaa-bundle`: what an Airflow deployment needs, laid out as Amazon MWAA takes it.

- ``<out>/dags/``: the DAG file, MWAA's constraints, ``.airflowignore`` and ``include/`` (SQL and the
  default config) — the DAGs folder's content;
- ``<out>/plugins.zip``: every package under ``plugins/`` — unpacks into the plugins folder;
- ``<out>/requirements.txt``: the extra Python packages, installed against ``dags/constraints.txt``.

Standard library only, so it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = ("message_export.py", "constraints.txt", ".airflowignore")


@dataclass(frozen=True)
class Bundle:
    dags: Path
    plugins_zip: Path
    requirements: Path


def _skip(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def build_bundle(out: Path) -> Bundle:
    """Write the bundle under ``out`` (its previous bundle files are replaced, nothing else is touched)."""
    bundle = Bundle(out / "dags", out / "plugins.zip", out / "requirements.txt")
    shutil.rmtree(bundle.dags, ignore_errors=True)
    bundle.dags.mkdir(parents=True)
    for name in DAG_FILES:
        shutil.copy2(REPO / "dags" / name, bundle.dags / name)
    shutil.copytree(REPO / "include", bundle.dags / "include", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "requirements.txt", bundle.requirements)
    plugins = REPO / "plugins"
    with zipfile.ZipFile(bundle.plugins_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(plugins.rglob("*")):
            if path.is_file() and not _skip(path.relative_to(plugins)):
                archive.write(path, path.relative_to(plugins).as_posix())
    return bundle


def unpack_bundle(bundle: Bundle, dags_folder: Path, plugins_folder: Path) -> None:
    """Deploy ``bundle`` as an Airflow installation does: the DAGs folder's files and the unzipped plugins."""
    shutil.copytree(bundle.dags, dags_folder, dirs_exist_ok=True)
    plugins_folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        archive.extractall(plugins_folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build", help="where to write the bundle (default build/)")
    args = parser.parse_args(argv)
    bundle = build_bundle(args.out)
    print(
        f"upload {bundle.dags}/* to the DAGs folder (include/ goes with it), and {bundle.plugins_zip} and "
        f"{bundle.requirements} to the environment's S3 bucket; see docs/deploying.md, 'Amazon MWAA'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
