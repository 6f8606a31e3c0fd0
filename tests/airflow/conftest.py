"""The bundle of ``make mwaa-bundle``, built once per session for the deployments in this package."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.mwaa_bundle import Bundle, build_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
