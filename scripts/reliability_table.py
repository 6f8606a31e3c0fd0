"""Render the figures the reliability tests wrote (build/reliability/*.json) as the table of docs/reliability.md.

python -m scripts.reliability_table   # after `make test` (or `pytest tests/reliability`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parents[1] / "build" / "reliability"
COLUMNS = ("messages", "completed", "failed", "lost", "duplicated", "extra_attempts", "max_attempts_seen")


def render(reports: list[dict]) -> str:
    header = "| scenario | layout | faults injected | " + " | ".join(COLUMNS) + " |"
    rule = "|---|---|---|" + "---:|" * len(COLUMNS)
    rows = [
        f"| {r['scenario'].removeprefix('test_').replace('_', ' ')} | {r.get('layout', 'message')} | "
        f"{r.get('faults_injected', '')} | "
        + " | ".join(f"{r[c]:,}" if isinstance(r.get(c), int) else str(r.get(c, "")) for c in COLUMNS)
        + " |"
        for r in sorted(reports, key=lambda r: r["scenario"])
    ]
    return "\n".join([header, rule, *rows])


def main() -> int:
    files = sorted(REPORT_DIR.glob("*.json"))
    if not files:
        print(f"no reports in {REPORT_DIR}: run `make test` (or pytest tests/reliability) first", file=sys.stderr)
        return 1
    print(render([json.loads(path.read_text(encoding="utf-8")) for path in files]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
