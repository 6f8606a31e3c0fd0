"""Fetch one archived message by id: the ledger says where, one (Range) GET reads it, in either layout.

``python -m message_export.fetch MESSAGE_ID`` (with ``plugins/`` on ``PYTHONPATH`` and the Airflow
connections of the config's ``connections`` section in the environment, as a worker has them; ``make
fetch ID=...`` sets both up for the local stack) prints the message's JSON document on stdout, exactly
the bytes archived; ``--where`` prints where it is instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO

from message_export.config import ExportConfig
from message_export.export import ExportServices
from message_export.hooks.archive import ArchiveError
from message_export.ledger.errors import MessageNotArchived


def fetch_message(
    message_id: str, *, config: ExportConfig | None = None, services: ExportServices | None = None
) -> bytes:
    """Return the archived JSON document of ``message_id``: one ledger lookup, one (Range) GET."""
    if services is None:
        from message_export.config import load_config

        services = ExportServices.from_config(config or load_config())
    return services.archive.read_archived(services.tracking.archived_message(message_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m message_export.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("message_id", help="the message id (the search cluster's _id), exactly")
    parser.add_argument("--where", action="store_true", help="print the object, byte range and SHA-256 instead")
    args = parser.parse_args(argv)
    # Airflow logs (connection lookups, secrets masking) to stdout: stdout gets the document alone
    sys.stdout.flush()
    document_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with document_out:
        return _run(args, document_out)


def _run(args: argparse.Namespace, out: IO[bytes]) -> int:
    from message_export.config import load_config

    services = ExportServices.from_config(load_config())
    try:
        archived = services.tracking.archived_message(args.message_id)
        if args.where:
            where = json.dumps(
                {
                    "message_id": archived.message_id,
                    "s3_path": archived.s3_path,
                    "offset": archived.archive_offset,
                    "length": archived.archive_length,
                    "size": archived.body_bytes,
                    "sha256": None if archived.body_sha256 is None else archived.body_sha256.hex(),
                }
            )
            out.write(where.encode() + b"\n")
            return 0
        body = services.archive.read_archived(archived)
    except MessageNotArchived as error:
        print(error, file=sys.stderr)
        return 2
    except ArchiveError as error:
        print(error, file=sys.stderr)
        return 1
    out.write(body + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
