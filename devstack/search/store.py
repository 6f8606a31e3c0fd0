"""Indices and documents of the Elasticsearch-compatible server.

Storage is append-only per index: every indexed document version gets a new ordinal; an overwrite or delete
stamps the old ordinal with the generation that removed it. A :class:`Snapshot` (``length``, ``gen``) therefore
sees exactly the documents that existed when it was taken, which is what a point in time holds — no copying.
Per field, values are normalised once at index time into an append-only column; per snapshot, a sorted
``(keys, ords)`` array per field is built lazily and used for range bounds, ``terms`` lookups and sorting.
"""

from __future__ import annotations

import base64
import fnmatch
import itertools
import json
import threading
import time
import uuid
from array import array
from typing import Any

from devstack.search import errors
from devstack.search.mapping import INT_TYPES, FieldType, dynamic_type, flatten

_loads = json.JSONDecoder().decode
_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')
_ids = itertools.count()


class Column:
    """An append-only sequence that stays invisible to the garbage collector.

    Full chunks are tuples of atoms (str/int/float/None/tuples of those), which CPython stops tracking after one
    collection; only the short tail is a list. A plain list of a million entries would be traversed by every full
    collection (about every few search pages), costing ~30 ms per million entries each time.
    """

    __slots__ = ("_chunks", "_tail")
    SHIFT = 12
    SIZE = 1 << SHIFT
    _NONES = (None,) * SIZE

    def __init__(self, padding: int = 0) -> None:
        self._chunks: list[tuple[Any, ...]] = [self._NONES] * (padding >> self.SHIFT)
        self._tail: list[Any] = [None] * (padding & (self.SIZE - 1))

    def append(self, value: Any) -> None:
        tail = self._tail
        tail.append(value)
        if len(tail) == self.SIZE:
            self._chunks.append(tuple(tail))
            self._tail = []

    def __len__(self) -> int:
        return (len(self._chunks) << self.SHIFT) + len(self._tail)

    def __getitem__(self, i: int) -> Any:
        chunk = i >> 12
        chunks = self._chunks
        if chunk < len(chunks):
            return chunks[chunk][i & 4095]
        return self._tail[i - (len(chunks) << 12)]

    def to_list(self, length: int) -> list[Any]:
        out: list[Any] = []
        for chunk in self._chunks:
            out.extend(chunk)
        out.extend(self._tail)
        del out[length:]
        return out


class SortedField:
    """Visible ordinals with a value for ``field`` sorted by (value, ord); ``missing``: visible ords without one."""

    __slots__ = ("keys", "missing", "ords")

    def __init__(self, keys: list[Any], ords: list[int], missing: list[int]) -> None:
        self.keys = keys
        self.ords = ords
        self.missing = missing


class Snapshot:
    """An immutable view of one index: ordinals ``< length`` not deleted at generation ``gen``."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.length = len(index.ids)
        self.gen = index.gen
        self.live = index.live
        self.has_deletes = index.tombstones > 0
        self._sorted: dict[tuple[str, bool], SortedField] = {}
        self.cache: dict[Any, Any] = {}

    def visible(self, ord_: int) -> bool:
        if ord_ >= self.length:
            return False
        if not self.has_deletes:
            return True
        deleted = self.index.deleted_at[ord_]
        return deleted == 0 or deleted > self.gen

    def ords(self, start: int = 0) -> Any:
        if not self.has_deletes:
            return range(start, self.length)
        deleted_at, gen = self.index.deleted_at, self.gen
        return (o for o in range(start, self.length) if deleted_at[o] == 0 or deleted_at[o] > gen)

    def sorted_field(self, field: str, desc: bool = False) -> SortedField:
        """The sorted array of ``field`` (multi-valued docs keyed by min, or max when ``desc``)."""
        multi = field in self.index.multi
        key = (field, desc and multi)
        found = self._sorted.get(key)
        if found is not None:
            return found
        stored = self.index.columns.get(field)
        if stored is None:
            result = SortedField([], [], list(self.ords()))
        else:
            column = stored.to_list(self.length)  # one flat copy: fast indexing while sorting, freed afterwards
            with_value: list[int] = []
            missing: list[int] = []
            for o in self.ords():
                (missing if column[o] is None else with_value).append(o)
            if multi:
                pick = max if desc else min
                values = {o: (pick(column[o]) if isinstance(column[o], tuple) else column[o]) for o in with_value}
                with_value.sort(key=values.__getitem__)
                keys: Any = [values[o] for o in with_value]
            else:
                with_value.sort(key=column.__getitem__)
                keys = [column[o] for o in with_value]
            field_type = self.index.fields.get(field)
            if field_type is not None and (field_type.type in INT_TYPES or field_type.type.startswith("date")):
                try:
                    keys = array("q", keys)  # not tracked by the garbage collector, 8 bytes per value
                except (OverflowError, TypeError):
                    pass
            result = SortedField(keys, array("q", with_value), missing)
        self._sorted[key] = result
        return result


class Index:
    def __init__(self, name: str, body: dict[str, Any] | None = None) -> None:
        body = body or {}
        self.name = name
        self.uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        self.created = int(time.time() * 1000)
        settings = dict(body.get("settings") or {})
        flat_settings = _flat_settings(settings)
        self.max_result_window = int(flat_settings.get("max_result_window", 10_000))
        self.max_terms_count = int(flat_settings.get("max_terms_count", 65_536))
        self.settings = flat_settings
        mappings = dict(body.get("mappings") or {})
        self.dynamic: Any = mappings.get("dynamic", True)
        self.mapping: dict[str, Any] = {k: v for k, v in mappings.items() if k != "properties"}
        self.mapping["properties"] = {}
        self.fields: dict[str, FieldType] = {}
        self.by_source: dict[str, list[FieldType]] = {}
        self.ids = Column()
        # Sources are kept as compact JSON text: a str is not tracked by the garbage collector and is far smaller
        # than a dict, which keeps 1M-document indices cheap; hits parse it back only when _source is returned.
        self.sources = Column()
        # Per-ordinal integers live in arrays: compact, and invisible to the garbage collector, whose full
        # collections would otherwise traverse millions of list slots every few search pages.
        self.versions = array("q")
        self.seq_nos = array("q")
        self.deleted_at = array("q")  # generation that removed the ordinal; 0 = live
        self.id_to_ord: dict[str, int] = {}
        self.deleted_versions: dict[str, int] = {}
        self.columns: dict[str, Column] = {}
        self.multi: set[str] = set()
        self.gen = 0
        self.seq_no = -1
        self.live = 0
        self.tombstones = 0
        self._snapshot: Snapshot | None = None
        self._add_properties(mappings.get("properties") or {}, "")

    # --- mappings --------------------------------------------------------------------------------------------

    def _add_properties(self, properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            self.add_field(prefix + name, dict(spec))

    def add_field(self, path: str, spec: dict[str, Any]) -> None:
        """Add ``path`` (dotted) with mapping ``spec`` to both the nested mapping and the flat field table."""
        parent = self.mapping
        parts = path.split(".")
        for part in parts[:-1]:
            node = parent["properties"].setdefault(part, {"properties": {}})
            node.setdefault("properties", {})
            parent = node
        existing = parent["properties"].get(parts[-1])
        if "properties" in spec and spec.get("type") in (None, "object", "nested"):
            node = parent["properties"].setdefault(parts[-1], {"properties": {}})
            node.setdefault("properties", {})
            for key, value in spec.items():
                if key != "properties":
                    node[key] = value
            self._add_properties(spec["properties"], path + ".")
            return
        if existing is not None and "type" in existing:
            return
        spec.setdefault("type", "object")
        parent["properties"][parts[-1]] = spec
        if spec["type"] in ("object", "nested"):
            return
        self._register(FieldType(path, spec["type"], path, spec))
        for sub, sub_spec in (spec.get("fields") or {}).items():
            self._register(FieldType(f"{path}.{sub}", sub_spec.get("type", "keyword"), path, sub_spec))

    def _register(self, field: FieldType) -> None:
        self.fields[field.name] = field
        self.by_source.setdefault(field.source_path, []).append(field)
        if self.ids and field.name not in self.columns:
            self.columns[field.name] = Column(len(self.ids))

    def mapping_body(self) -> dict[str, Any]:
        return {self.name: {"mappings": _strip_empty(self.mapping)}}

    def settings_body(self) -> dict[str, Any]:
        index_settings = {
            "number_of_shards": "1",
            "number_of_replicas": "1",
            "uuid": self.uuid,
            "provided_name": self.name,
            "creation_date": str(self.created),
            "version": {"created": "9009000"},
        }
        index_settings.update({k: str(v) for k, v in self.settings.items()})
        return {self.name: {"settings": {"index": index_settings}}}

    # --- documents --------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self._snapshot is None or self._snapshot.gen != self.gen:
            self._snapshot = Snapshot(self)
        return self._snapshot

    def _values(self, doc_id: str, source: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Normalised values per field, and the dynamic mappings this document would add."""
        values: dict[str, Any] = {}
        new_fields: dict[str, dict[str, Any]] = {}
        strict = self.dynamic in ("strict", "strict_allow_templates")
        dynamic = self.dynamic not in (False, "false", "runtime") and not strict
        for path, raw in _leaves(source):
            fields = self.by_source.get(path)
            if fields is None:
                if raw is None:
                    continue
                if strict:
                    raise errors.EsError(
                        400,
                        "strict_dynamic_mapping_exception",
                        f"[1:2] mapping set to strict, dynamic introduction of [{path}] within [_doc] is not allowed",
                    )
                if not dynamic:
                    continue
                spec = new_fields.get(path) or dynamic_type(raw)
                if spec is None:
                    continue
                new_fields[path] = spec
                fields = [FieldType(path, spec["type"], path, spec)]
                fields += [FieldType(f"{path}.{s}", v["type"], path, v) for s, v in (spec.get("fields") or {}).items()]
            for field in fields:
                value = field.normalize(raw, doc_id)
                if value is None:
                    continue
                previous = values.get(field.name)
                if previous is None:
                    values[field.name] = value
                elif isinstance(previous, tuple):
                    values[field.name] = (*previous, value)
                else:
                    values[field.name] = (previous, value)
        return values, new_fields

    def put(
        self, doc_id: str, source: dict[str, Any], op_type: str = "index", raw: str | None = None
    ) -> tuple[str, int]:
        """Index ``source`` (whose JSON text is ``raw`` when known) as ``doc_id``; return (result, version).

        Raises a version conflict for ``op_type="create"`` when the id exists.
        """
        old = self.id_to_ord.get(doc_id)
        if old is not None and op_type == "create":
            raise errors.version_conflict(self.name, self.uuid, doc_id, self.versions[old])
        values, new_fields = self._values(doc_id, source)
        for path, spec in new_fields.items():
            self.add_field(path, spec)
        self.gen += 1
        self.seq_no += 1
        ord_ = len(self.ids)
        if old is not None:
            version = self.versions[old] + 1
            self.deleted_at[old] = self.gen
            self.tombstones += 1
            result = "updated"
        else:
            version = self.deleted_versions.pop(doc_id, 0) + 1
            self.live += 1
            result = "created"
        self.ids.append(doc_id)
        self.sources.append(raw if raw is not None else _dumps(source))
        self.versions.append(version)
        self.seq_nos.append(self.seq_no)
        self.deleted_at.append(0)
        self.id_to_ord[doc_id] = ord_
        multi = [name for name, value in values.items() if isinstance(value, tuple)]
        for name, column in self.columns.items():
            column.append(values.pop(name, None))
        for name, value in values.items():  # first document carrying this field
            column = Column(ord_)
            column.append(value)
            self.columns[name] = column
        if multi:
            self.multi.update(multi)
        return result, version

    def delete(self, doc_id: str) -> tuple[str, int]:
        old = self.id_to_ord.get(doc_id)
        self.gen += 1
        self.seq_no += 1
        if old is None:
            return "not_found", self.deleted_versions.get(doc_id, 0) + 1
        version = self.versions[old] + 1
        self.deleted_at[old] = self.gen
        self.tombstones += 1
        self.live -= 1
        del self.id_to_ord[doc_id]
        self.deleted_versions[doc_id] = version
        return "deleted", version

    def source(self, ord_: int) -> dict[str, Any]:
        return _loads(self.sources[ord_])

    def doc(self, doc_id: str) -> int | None:
        return self.id_to_ord.get(doc_id)

    def hit_meta(self, ord_: int) -> dict[str, Any]:
        return {
            "_index": self.name,
            "_id": self.ids[ord_],
            "_version": self.versions[ord_],
            "_seq_no": self.seq_nos[ord_],
            "_primary_term": 1,
        }


def _dumps(source: dict[str, Any]) -> str:
    return json.dumps(source, ensure_ascii=False, separators=(",", ":"))


def _leaves(source: dict[str, Any]) -> Any:
    """``flatten`` with a fast path for flat documents (no objects or arrays)."""
    for value in source.values():
        if isinstance(value, (dict, list)):
            return flatten(source)
    return source.items()


def _flat_settings(settings: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk(settings, "")
    return {k.removeprefix("index."): v for k, v in out.items()}


def _strip_empty(mapping: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in mapping.items():
        if key == "properties" and not value:
            continue
        out[key] = (
            {k: _strip_empty(v) if isinstance(v, dict) else v for k, v in value.items()}
            if isinstance(value, dict) and key == "properties"
            else value
        )
    return out


def validate_index_name(name: str) -> None:
    problem = None
    if name != name.lower():
        problem = "must be lowercase"
    elif name in (".", ".."):
        problem = "must not be '.' or '..'"
    elif name.startswith(("_", "-", "+")):
        problem = "must not start with '_', '-', or '+'"
    elif any(c in _INVALID_NAME_CHARS for c in name):
        problem = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
    elif len(name.encode()) > 255:
        problem = "index name is too long, (" + str(len(name.encode())) + " > 255)"
    if problem:
        raise errors.EsError(
            400,
            "invalid_index_name_exception",
            f"Invalid index name [{name}], {problem}",
            index_uuid=errors.INDEX_UUID,
            index=name,
        )


class Store:
    """All indices; callers hold ``lock`` for every operation."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}

    def reset(self) -> None:
        with self.lock:
            self.indices.clear()

    def create(self, name: str, body: dict[str, Any] | None = None) -> Index:
        validate_index_name(name)
        existing = self.indices.get(name)
        if existing is not None:
            raise errors.resource_already_exists(name, existing.uuid)
        index = Index(name, body)
        self.indices[name] = index
        return index

    def for_write(self, name: str) -> Index:
        index = self.indices.get(name)
        if index is None:
            index = self.create(name)
        return index

    def get(self, name: str) -> Index:
        index = self.indices.get(name)
        if index is None:
            raise errors.index_not_found(name)
        return index

    def resolve(
        self, expression: str | None, *, ignore_unavailable: bool = False, allow_no_indices: bool = True
    ) -> list[Index]:
        """Indices named by ``expression`` (comma list, wildcards, ``_all``, ``-exclusions``), in name order."""
        if not expression or expression in ("_all", "*"):
            chosen = [n for n in self.indices if not n.startswith(".")]
        else:
            chosen = []
            for part in expression.split(","):
                part = part.strip()
                if not part:
                    continue
                if part.startswith("-") and chosen:
                    chosen = [n for n in chosen if not fnmatch.fnmatchcase(n, part[1:])]
                elif "*" in part or "?" in part:
                    hidden = part.startswith(".")
                    chosen += [
                        n
                        for n in self.indices
                        if fnmatch.fnmatchcase(n, part) and (hidden or not n.startswith(".")) and n not in chosen
                    ]
                elif part == "_all":
                    chosen += [n for n in self.indices if n not in chosen and not n.startswith(".")]
                elif part in self.indices:
                    if part not in chosen:
                        chosen.append(part)
                elif not ignore_unavailable:
                    raise errors.index_not_found(part)
        if not chosen and not allow_no_indices:
            raise errors.index_not_found(expression or "_all")
        return [self.indices[n] for n in sorted(chosen)]

    def delete_indices(self, expression: str, ignore_unavailable: bool = False) -> list[str]:
        names = [i.name for i in self.resolve(expression, ignore_unavailable=ignore_unavailable)]
        for name in names:
            del self.indices[name]
        return names


def auto_id() -> str:
    """An Elasticsearch-looking auto-generated id (20 URL-safe base64 characters)."""
    raw = uuid.uuid4().bytes[:11] + next(_ids).to_bytes(4, "big")
    return base64.urlsafe_b64encode(raw).decode()[:20]
