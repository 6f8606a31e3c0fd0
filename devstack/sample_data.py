"""Deterministic, realistic sample data for the message-export indices, and a loader.

* ``messages``: ``_id`` = message id, ``timestamp`` (ISO-8601 UTC, milliseconds, ``Z``) spread over each day,
  sender, recipients, subject, body (~``body_bytes``), channel, thread_id.
* ``message_history`` / ``message_status`` / ``message_audit``: 0..``max_related`` documents per message each,
  with ``message_id`` and a ``timestamp`` at/after the message's.

Everything is a pure function of the :class:`SampleSpec` (ids are hashes of ``(seed, day, n)``), generated lazily,
so memory stays flat and :func:`message_ids` recomputes the ids without holding them.

CLI::

    python -m devstack.sample_data --url http://127.0.0.1:9200 --start 2024-10-01 --days 3 --per-day 1000
    python -m devstack.sample_data --measure 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, helpers

MESSAGES = "messages"
RELATED = {"history": "message_history", "status": "message_status", "audit": "message_audit"}
ID_STYLES = ("uuid", "hostile")
DAY_MS = 86_400_000

_WORDS = [
    "quarterly",
    "report",
    "meeting",
    "schedule",
    "budget",
    "review",
    "customer",
    "invoice",
    "shipment",
    "delayed",
    "approved",
    "pending",
    "draft",
    "final",
    "contract",
    "renewal",
    "update",
    "team",
    "project",
    "deadline",
    "launch",
    "feedback",
    "proposal",
    "agenda",
    "minutes",
    "follow",
    "up",
    "question",
    "answer",
    "thanks",
    "regards",
    "please",
    "attached",
    "summary",
    "forecast",
    "revenue",
    "expense",
    "travel",
    "request",
    "policy",
    "security",
    "incident",
    "resolved",
    "escalation",
    "ticket",
    "release",
    "notes",
    "migration",
    "database",
    "backup",
    "archive",
    "export",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "on",
    "with",
    "at",
    "by",
    "from",
    "is",
    "are",
    "was",
    "be",
    "this",
    "that",
    "it",
    "as",
    "we",
    "you",
    "they",
    "our",
    "your",
]
_NAMES = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
]
_DOMAINS = ("example.com", "example.org", "corp.example", "mail.test")
_CHANNELS = ("email", "email", "email", "chat", "sms", "portal")
_ACTIONS = ("created", "edited", "forwarded", "replied", "labelled", "moved", "archived")
_STATUSES = ("queued", "sent", "delivered", "read", "bounced", "failed")
_EVENTS = ("viewed", "exported", "policy_check", "retention_hold", "access_granted", "downloaded")
# Each hostile pattern is used with a per-message number so ids stay unique while colliding under naive
# normalisation (NFC/NFD, case, trimming, URL-decoding, path handling).
_HOSTILE = (
    lambda b: f"caf\u00e9-{b}",  # NFC
    lambda b: f"cafe\u0301-{b}",  # NFD of the same text
    lambda b: f"Msg-{b}",
    lambda b: f"msg-{b}",
    lambda b: f"MSG-{b}",
    lambda b: f"trail-{b} ",
    lambda b: f" lead-{b}",
    lambda b: f"a/b/{b}",
    lambda b: f"../{b}",
    lambda b: f"..{b}..",
    lambda b: f"100%-{b}",
    lambda b: f"%2F{b}%00",
    lambda b: f"ctl\x01\x1f\t-{b}\x7f",
    lambda b: f"quote'\"`-{b}",
    lambda b: f"x'); DROP TABLE messages; -- {b}",
    lambda b: f"1 OR 1=1 /* {b} */",
    lambda b: f"back\\slash\\{b}",
    lambda b: f"emoji-\U0001f600-{b}",
    lambda b: f"space in id {b}",
    lambda b: f"{b}".rjust(512, "L"),  # 512 bytes: Elasticsearch's maximum _id length
)


@dataclass(frozen=True)
class SampleSpec:
    start: datetime
    days: int
    messages_per_day: int
    seed: int = 0
    body_bytes: int = 2048
    max_related: int = 5
    id_style: str = "uuid"  # or "hostile"

    def __post_init__(self) -> None:
        if self.id_style not in ID_STYLES:
            raise ValueError(f"id_style must be one of {ID_STYLES}")
        if self.days < 0 or self.messages_per_day < 0 or self.max_related < 0 or self.body_bytes < 0:
            raise ValueError("days, messages_per_day, max_related and body_bytes must be >= 0")

    @property
    def first_day(self) -> datetime:
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
        return start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SeedSummary:
    messages: int
    related: dict[str, int]
    per_day: dict[str, int]
    seconds: float
    errors: list[dict[str, Any]] = field(default_factory=list)


def iso_millis(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def message_id(spec: SampleSpec, day: int, n: int) -> str:
    """The id of message ``n`` (0-based) of day ``day`` (0-based)."""
    if spec.id_style == "hostile":
        number = day * spec.messages_per_day + n
        pattern = _HOSTILE[number % len(_HOSTILE)]
        return pattern(f"{spec.seed}.{number // len(_HOSTILE)}")
    return str(uuid.UUID(bytes=_digest(spec.seed, day, n), version=4))


def message_ids(spec: SampleSpec) -> Iterator[str]:
    """Every message id of ``spec``, in generation order, computed on the fly."""
    for day in range(spec.days):
        for n in range(spec.messages_per_day):
            yield message_id(spec, day, n)


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_NAMES)}.{rng.choice(_NAMES)}@{rng.choice(_DOMAINS)}"


def _text_pool(seed: int, size: int) -> str:
    rng = random.Random(f"pool-{seed}")
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def generate_actions(spec: SampleSpec) -> Iterator[dict[str, Any]]:
    """Bulk actions (``_index``, ``_id``, ``_source``): each message followed by its related documents."""
    pool = _text_pool(spec.seed, max(4 * spec.body_bytes, 65_536))
    first_ms = int(spec.first_day.timestamp() * 1000)
    for day in range(spec.days):
        rng = random.Random(f"{spec.seed}-{day}")
        day_ms = first_ms + day * DAY_MS
        slot = DAY_MS / spec.messages_per_day if spec.messages_per_day else DAY_MS
        for n in range(spec.messages_per_day):
            mid = message_id(spec, day, n)
            ts = day_ms + int(n * slot + rng.random() * slot)
            ts = min(ts, day_ms + DAY_MS - 1)
            offset = rng.randrange(0, len(pool) - spec.body_bytes) if spec.body_bytes else 0
            thread = _digest(spec.seed, "thread", day, n // 4).hex()[:16]
            yield {
                "_index": MESSAGES,
                "_id": mid,
                "_source": {
                    "timestamp": iso_millis(ts),
                    "sender": _email(rng),
                    "recipients": [_email(rng) for _ in range(rng.randint(1, 3))],
                    "subject": " ".join(rng.choices(_WORDS, k=rng.randint(3, 8))).capitalize(),
                    "body": pool[offset : offset + spec.body_bytes],
                    "channel": rng.choice(_CHANNELS),
                    "thread_id": f"thr-{thread}",
                },
            }
            for kind, index in RELATED.items():
                for j in range(rng.randint(0, spec.max_related)):
                    related_ts = ts + rng.randrange(0, 6 * 3_600_000)
                    yield {
                        "_index": index,
                        "_id": _digest(spec.seed, kind, day, n, j).hex(),
                        "_source": {"message_id": mid, "timestamp": iso_millis(related_ts), **_related(kind, rng)},
                    }


def _related(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "history":
        return {"action": rng.choice(_ACTIONS), "actor": _email(rng), "note": " ".join(rng.choices(_WORDS, k=6))}
    if kind == "status":
        return {"status": rng.choice(_STATUSES), "recipient": _email(rng), "attempt": rng.randint(1, 4)}
    return {
        "event": rng.choice(_EVENTS),
        "actor": _email(rng),
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "details": " ".join(rng.choices(_WORDS, k=5)),
    }


MESSAGE_MAPPINGS = {
    "properties": {
        "timestamp": {"type": "date"},
        "sender": {"type": "keyword"},
        "recipients": {"type": "keyword"},
        "subject": {"type": "text"},
        "body": {"type": "text"},
        "channel": {"type": "keyword"},
        "thread_id": {"type": "keyword"},
    }
}
RELATED_MAPPINGS = {"properties": {"message_id": {"type": "keyword"}, "timestamp": {"type": "date"}}}


def create_indices(es: Elasticsearch) -> None:
    """Create the four indices with their mappings; existing ones are left alone."""
    for name, mappings in [(MESSAGES, MESSAGE_MAPPINGS), *((i, RELATED_MAPPINGS) for i in RELATED.values())]:
        if es.indices.exists(index=name):
            continue
        es.options(ignore_status=400).indices.create(index=name, mappings=mappings)


def seed(es: Elasticsearch, spec: SampleSpec, chunk_size: int = 2000) -> SeedSummary:
    """Load ``spec`` (creating missing indices), refresh, and report what was written."""
    started = time.perf_counter()
    create_indices(es)
    related = dict.fromkeys(RELATED.values(), 0)
    per_day: dict[str, int] = {}
    messages = 0
    first = spec.first_day
    for day in range(spec.days):
        per_day[(first + timedelta(days=day)).date().isoformat()] = spec.messages_per_day
    for ok, item in helpers.streaming_bulk(es, generate_actions(spec), chunk_size=chunk_size, max_retries=3):
        result = next(iter(item.values()))
        if not ok:
            raise RuntimeError(f"bulk item failed: {result}")
        if result["_index"] == MESSAGES:
            messages += 1
        else:
            related[result["_index"]] = related.get(result["_index"], 0) + 1
    es.indices.refresh(index=[MESSAGES, *RELATED.values()])
    return SeedSummary(messages, related, per_day, time.perf_counter() - started)


# --- measurement ------------------------------------------------------------------------------------------------


def measure(count: int, page: int = 10_000, chunk_size: int = 5_000) -> dict[str, Any]:
    """Load ``count`` small messages into an in-process server, then time a full PIT pass and an ``_mget``."""
    from devstack.search.server import EsCompatServer

    with EsCompatServer() as server:
        es = Elasticsearch(server.url, request_timeout=600)
        es.indices.create(index=MESSAGES, mappings={"properties": {"timestamp": {"type": "date"}}})
        first_ms = 1_727_740_800_000
        step = max(1, DAY_MS // max(count, 1))
        began = time.perf_counter()
        loaded, _ = helpers.bulk(
            es,
            (
                {"_index": MESSAGES, "_id": f"m{i:08d}", "timestamp": iso_millis(first_ms + i * step), "n": i}
                for i in range(count)
            ),
            chunk_size=chunk_size,
        )
        es.indices.refresh(index=MESSAGES)
        load_seconds = time.perf_counter() - began
        began = time.perf_counter()
        seen = bytearray(count)
        duplicates = pages = 0
        pit_id = es.open_point_in_time(index=MESSAGES, keep_alive="5m")["id"]
        after = None
        while True:
            extra = {"search_after": after} if after else {}
            response = es.search(
                pit={"id": pit_id, "keep_alive": "5m"},
                query={"range": {"timestamp": {"gte": first_ms, "format": "epoch_millis"}}},
                sort=[{"timestamp": {"order": "asc"}}, {"_shard_doc": "asc"}],
                size=page,
                source=False,
                track_total_hits=False,
                **extra,
            )
            pit_id = response.get("pit_id", pit_id)
            hits = response["hits"]["hits"]
            if not hits:
                break
            pages += 1
            for hit in hits:
                number = int(hit["_id"][1:])
                duplicates += seen[number]
                seen[number] = 1
            after = hits[-1]["sort"]
        es.close_point_in_time(id=pit_id)
        pass_seconds = time.perf_counter() - began
        ids = [f"m{i:08d}" for i in random.Random(0).sample(range(count), min(1000, count))]
        began = time.perf_counter()
        docs = es.mget(index=MESSAGES, ids=ids)["docs"]
        mget_seconds = time.perf_counter() - began
        es.close()
    return {
        "documents": count,
        "loaded": loaded,
        "load_seconds": round(load_seconds, 3),
        "pass_seconds": round(pass_seconds, 3),
        "pages": pages,
        "seen": sum(seen),
        "duplicates": duplicates,
        "mget_ids": len(ids),
        "mget_found": sum(1 for d in docs if d.get("found")),
        "mget_seconds": round(mget_seconds, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed sample messages, or measure the in-process ES server")
    parser.add_argument("--url", "--es-url", dest="url", default="http://127.0.0.1:9200")
    parser.add_argument("--start", default="2024-10-01", help="first day (YYYY-MM-DD, UTC)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--body-bytes", type=int, default=2048)
    parser.add_argument("--max-related", type=int, default=5)
    parser.add_argument("--id-style", choices=ID_STYLES, default="uuid")
    parser.add_argument("--measure", type=int, metavar="N", help="measure the in-process server with N documents")
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure), indent=2))
        return 0
    spec = SampleSpec(
        start=datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=UTC),
        days=args.days,
        messages_per_day=args.per_day,
        seed=args.seed,
        body_bytes=args.body_bytes,
        max_related=args.max_related,
        id_style=args.id_style,
    )
    es = Elasticsearch(args.url, request_timeout=300)
    try:
        summary = seed(es, spec)
    finally:
        es.close()
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
