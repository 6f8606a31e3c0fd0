"""Which archive layout the local stack's config uses: ``ARCHIVE_LAYOUT=message|batch`` (``make demo``,
``make airflow``), else the packaged config file's ``s3.layout``."""

from __future__ import annotations

import os
from typing import Any

LAYOUT_ENV = "ARCHIVE_LAYOUT"
LAYOUTS = ("message", "batch")


def apply_archive_layout(config: dict[str, Any]) -> str:
    """Set ``s3.layout`` of a config mapping from ``$ARCHIVE_LAYOUT`` (if set); return the layout in use."""
    s3 = config.setdefault("s3", {})
    layout = os.environ.get(LAYOUT_ENV) or s3.get("layout", "message")
    if layout not in LAYOUTS:
        raise SystemExit(f"{LAYOUT_ENV}={layout!r}: the archive layout is one of {', '.join(LAYOUTS)}")
    s3["layout"] = layout
    return layout
