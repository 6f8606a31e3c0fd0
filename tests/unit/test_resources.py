"""Finding include/ in any deployment layout, and the one-line errors when it is not deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from message_export import resources
from message_export.resources import DeploymentError, include_candidates, include_root, load_sql


def _include(folder: Path) -> Path:
    (folder / "include" / "sql").mkdir(parents=True)
    return folder / "include"


@pytest.fixture
def dags_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "git-sync" / "repo" / "dags"
    folder.mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.delenv(resources.INCLUDE_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW__MESSAGE_EXPORT__INCLUDE_FOLDER", raising=False)
    return folder


def test_include_inside_the_dags_folder_is_found_wherever_the_plugins_are(dags_folder: Path):
    include = _include(dags_folder)
    assert include_root() == include


def test_include_beside_the_dags_folder_is_the_source_checkout_layout(dags_folder: Path):
    include = _include(dags_folder.parent)
    assert include_root() == include


def test_the_dags_folder_is_searched_before_the_package_location(dags_folder: Path):
    candidates = include_candidates()
    assert candidates[:2] == [dags_folder / "include", dags_folder.parent / "include"]
    assert candidates[-1] == Path(resources.__file__).resolve().parents[2] / "include"


@pytest.mark.parametrize("variable", [resources.INCLUDE_ENV, "AIRFLOW__MESSAGE_EXPORT__INCLUDE_FOLDER"])
def test_an_explicit_setting_is_the_only_place_looked_at(
    dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
):
    _include(dags_folder)
    elsewhere = _include(tmp_path / "elsewhere")
    monkeypatch.setenv(variable, str(elsewhere))
    assert include_root() == elsewhere
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    with pytest.raises(DeploymentError, match=r"looked in: .*missing\. Deploy"):
        include_root()


def test_a_missing_include_names_every_place_and_what_to_deploy(
    dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(resources, "_SOURCE_CHECKOUT", tmp_path / "checkout")
    with pytest.raises(DeploymentError) as raised:
        include_root()
    message = str(raised.value)
    assert "\n" not in message
    for place in (dags_folder / "include", dags_folder.parent / "include", tmp_path / "checkout" / "include"):
        assert str(place) in message
    assert "Deploy the bundle's dags/include/ into Airflow's DAGs folder" in message
    assert "[message_export] include_folder" in message


def test_a_missing_sql_file_names_the_file(dags_folder: Path):
    include = _include(dags_folder)
    load_sql.cache_clear()
    try:
        with pytest.raises(DeploymentError, match=f"SQL file {include}/sql/ledger/claim_batch.sql is missing"):
            load_sql("ledger/claim_batch")
    finally:
        load_sql.cache_clear()
