"""The clients a step builds (the search engine's, the archive's) join the objects kept off the
garbage collector for the step, against the real servers; the step returns them all at its end."""

from __future__ import annotations

import gc

from message_export.config import load_config
from message_export.export import ExportServices
from message_export.heap import freeze_startup_objects
from message_export.hooks.archive import MessageArchiveHook
from tests.fixtures.export_stack import Stack


def test_the_clients_a_step_builds_are_kept_off_the_collector(stack: Stack) -> None:
    config = load_config()
    gc.unfreeze()
    frozen: dict[str, int] = {}

    @freeze_startup_objects
    def step() -> None:
        search = ExportServices.from_config(config).search
        # an archive hook whose settings no other test uses: its client is built here, not reused
        archive = MessageArchiveHook(config.connections.aws, max_concurrency=3)
        frozen["start"] = gc.get_freeze_count()
        search.check_indices([config.elasticsearch.message_index])
        frozen["search client built"] = gc.get_freeze_count()
        archive.check_bucket(config.s3.bucket, config.s3.prefix)
        frozen["archive client built"] = gc.get_freeze_count()

    step()
    assert frozen["search client built"] > frozen["start"], frozen
    assert frozen["archive client built"] > frozen["search client built"], frozen
    assert gc.get_freeze_count() == 0
