"""Cluster, index, document, ``_bulk`` and ``_mget`` APIs of the Elasticsearch-compatible server.

Every method returns ``(status, body)``; errors are raised as :class:`~devstack.search.errors.EsError`.
Writes are real-time: documents are searchable as soon as they are indexed, ``refresh`` is accepted as a no-op.
"""

from __future__ import annotations

import json
from typing import Any

from devstack.search import errors
from devstack.search.mapping import filter_source, json_scalar, source_filter_spec
from devstack.search.store import Index, Store, auto_id
from devstack.search.validation import not_supported, parse_bool_param, token_name

SHARDS = {"total": 2, "successful": 1, "failed": 0}
_decode = json.JSONDecoder().decode
Result = tuple[int, Any]


def _write_result(index: Index, doc_id: str, result: str, version: int) -> dict[str, Any]:
    return {
        "_index": index.name,
        "_id": doc_id,
        "_version": version,
        "result": result,
        "_shards": dict(SHARDS),
        "_seq_no": index.seq_no,
        "_primary_term": 1,
    }


def _check_source(source: Any) -> dict[str, Any]:
    if not isinstance(source, dict):
        raise errors.EsError(400, "mapper_parsing_exception", "failed to parse, document is empty")
    return source


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class DocumentApi:
    def __init__(self, store: Store, version: str, cluster_uuid: str, engine: str = "elasticsearch") -> None:
        self.store = store
        self.version = version
        self.cluster_uuid = cluster_uuid
        self.engine = engine

    # --- cluster ----------------------------------------------------------------------------------------------

    def info(self) -> Result:
        if self.engine == "opensearch":
            return 200, {
                "name": "opensearch-compat-0",
                "cluster_name": "opensearch-compat",
                "cluster_uuid": self.cluster_uuid,
                "version": {
                    "distribution": "opensearch",
                    "number": self.version,
                    "build_type": "tar",
                    "build_hash": "0000000000000000000000000000000000000000",
                    "build_date": "2025-01-01T00:00:00.000000000Z",
                    "build_snapshot": False,
                    "lucene_version": "9.12.1",
                    "minimum_wire_compatibility_version": "7.10.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "The OpenSearch Project: https://opensearch.org/",
            }
        major = int(self.version.split(".")[0])
        return 200, {
            "name": "es-compat-0",
            "cluster_name": "es-compat",
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.version,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2025-01-01T00:00:00.000000000Z",
                "build_snapshot": False,
                "lucene_version": "10.2.2" if major >= 9 else "9.12.0",
                "minimum_wire_compatibility_version": "8.19.0" if major >= 9 else "7.17.0",
                "minimum_index_compatibility_version": "8.0.0" if major >= 9 else "7.0.0",
            },
            "tagline": "You Know, for Search",
        }

    def health(self, index_expr: str | None = None) -> Result:
        indices = self.store.resolve(index_expr) if index_expr else list(self.store.indices.values())
        n = len(indices)
        return 200, {
            "cluster_name": "es-compat",
            "status": "green",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": n,
            "active_shards": n,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "unassigned_primary_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }

    # --- indices ----------------------------------------------------------------------------------------------

    def create_index(self, name: str, body: Any) -> Result:
        if body is not None and not isinstance(body, dict):
            raise errors.parsing("request body is required to be an object")
        self.store.create(name, body or {})
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete_index(self, expr: str, params: dict[str, str]) -> Result:
        ignore = params.get("ignore_unavailable") == "true"
        for part in expr.split(","):
            if part and "*" not in part and part not in ("_all",) and part not in self.store.indices and not ignore:
                raise errors.index_not_found(part)
        self.store.delete_indices(expr, ignore_unavailable=True)
        return 200, {"acknowledged": True}

    def index_exists(self, expr: str) -> Result:
        try:
            found = self.store.resolve(expr, allow_no_indices=False)
        except errors.EsError:
            return 404, None
        return (200 if found else 404), None

    def get_mapping(self, expr: str | None) -> Result:
        body: dict[str, Any] = {}
        for index in self.store.resolve(expr):
            body.update(index.mapping_body())
        return 200, body

    def put_mapping(self, expr: str, body: Any) -> Result:
        for index in self.store.resolve(expr, allow_no_indices=False):
            for path, spec in ((body or {}).get("properties") or {}).items():
                index.add_field(path, dict(spec))
        return 200, {"acknowledged": True}

    def get_index(self, expr: str) -> Result:
        body: dict[str, Any] = {}
        for index in self.store.resolve(expr, allow_no_indices=False):
            settings = index.settings_body()[index.name]
            body[index.name] = {"aliases": {}, **index.mapping_body()[index.name], **settings}
        return 200, body

    def get_settings(self, expr: str | None) -> Result:
        body: dict[str, Any] = {}
        for index in self.store.resolve(expr):
            body.update(index.settings_body())
        return 200, body

    def refresh(self, expr: str | None) -> Result:
        n = len(self.store.resolve(expr))
        return 200, {"_shards": {"total": n * 2, "successful": n, "failed": 0}}

    def cat_indices(self, expr: str | None, params: dict[str, str]) -> Result:
        rows = [
            {
                "health": "green",
                "status": "open",
                "index": i.name,
                "uuid": i.uuid,
                "pri": "1",
                "rep": "0",
                "docs.count": str(i.live),
                "docs.deleted": str(i.tombstones),
            }
            for i in self.store.resolve(expr)
        ]
        if params.get("format") == "json":
            return 200, rows
        text = "".join(" ".join(r.values()) + "\n" for r in rows)
        return 200, text

    # --- documents --------------------------------------------------------------------------------------------

    def put_doc(self, name: str, doc_id: str | None, body: Any, op_type: str = "index") -> Result:
        index = self.store.for_write(name)
        doc_id = doc_id if doc_id is not None else auto_id()
        if doc_id == "":
            raise errors.validation("if _id is specified it must not be empty")
        result, version = index.put(doc_id, _check_source(body), op_type)
        return (201 if result == "created" else 200), _write_result(index, doc_id, result, version)

    def get_doc(self, name: str, doc_id: str, params: dict[str, str], source_only: bool = False) -> Result:
        index = self.store.get(name)
        ord_ = index.doc(doc_id)
        if ord_ is None:
            if source_only:
                raise errors.EsError(404, "resource_not_found_exception", f"Document not found [{name}]/[{doc_id}]")
            return 404, {"_index": name, "_id": doc_id, "found": False}
        fetch, inc, exc = source_filter_spec(
            params.get("_source"), params.get("_source_includes"), params.get("_source_excludes")
        )
        source = filter_source(index.source(ord_), inc, exc)
        if source_only:
            return 200, source
        body = {**index.hit_meta(ord_), "found": True}
        if fetch:
            body["_source"] = source
        return 200, body

    def delete_doc(self, name: str, doc_id: str) -> Result:
        index = self.store.get(name)
        result, version = index.delete(doc_id)
        return (200 if result == "deleted" else 404), _write_result(index, doc_id, result, version)

    def update_doc(self, name: str, doc_id: str, body: Any) -> Result:
        index = (
            self.store.get(name)
            if not (body or {}).get("doc_as_upsert") and "upsert" not in (body or {})
            else (self.store.for_write(name))
        )
        result, version = self._update(index, doc_id, body or {})
        return (201 if result == "created" else 200), _write_result(index, doc_id, result, version)

    def _update(self, index: Index, doc_id: str, body: dict[str, Any]) -> tuple[str, int]:
        ord_ = index.doc(doc_id)
        doc = body.get("doc")
        if ord_ is None:
            if body.get("doc_as_upsert") and isinstance(doc, dict):
                return index.put(doc_id, doc)
            if isinstance(body.get("upsert"), dict):
                return index.put(doc_id, body["upsert"])
            raise errors.EsError(
                404,
                "document_missing_exception",
                f"[{doc_id}]: document missing",
                index_uuid=index.uuid,
                shard="0",
                index=index.name,
            )
        if not isinstance(doc, dict):
            raise errors.validation("script or doc is missing")
        current = index.source(ord_)
        merged = _deep_merge(current, doc)
        if merged == current:
            return "noop", index.versions[ord_]
        return index.put(doc_id, merged)

    # --- bulk -------------------------------------------------------------------------------------------------

    def bulk(self, default_index: str | None, raw: bytes) -> Result:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise errors.illegal_argument("Invalid UTF-8 in the bulk request body") from error
        lines = [line for line in text.split("\n") if line.strip()]
        items: list[dict[str, Any]] = []
        any_failed = False
        i = 0
        while i < len(lines):
            try:
                action_line = _decode(lines[i])
            except ValueError as error:
                raise errors.illegal_argument(f"Malformed action/metadata line [{i + 1}]") from error
            if not isinstance(action_line, dict) or len(action_line) != 1:
                raise errors.illegal_argument(
                    f"Malformed action/metadata line [{i + 1}], expected START_OBJECT or END_OBJECT but found [null]"
                )
            action, meta = next(iter(action_line.items()))
            if action not in ("index", "create", "delete", "update"):
                raise errors.illegal_argument(
                    f"Malformed action/metadata line [{i + 1}], expected field [create], [delete], [index] or "
                    f"[update] but found [{action}]"
                )
            meta = meta or {}
            source: Any = None
            raw_source: str | None = None
            if action != "delete":
                i += 1
                if i >= len(lines):
                    raise errors.illegal_argument("The bulk request must be terminated by a newline [\\n]")
                try:
                    raw_source = lines[i]
                    source = _decode(raw_source)
                except ValueError as error:
                    raise errors.EsError(
                        400, "x_content_parse_exception", f"[1:1] Unexpected character in line [{i + 1}]"
                    ) from error
            i += 1
            name = meta.get("_index") or default_index
            if not name:
                raise errors.validation("index is missing")
            item, failed = self._bulk_item(action, name, meta, source, raw_source)
            any_failed = any_failed or failed
            items.append({action: item})
        return 200, {"errors": any_failed, "took": 0, "items": items}

    def _bulk_item(
        self, action: str, name: str, meta: dict[str, Any], source: Any, raw: str | None
    ) -> tuple[dict[str, Any], bool]:
        doc_id = meta.get("_id")
        doc_id = str(doc_id) if doc_id is not None else None
        try:
            if action == "delete":
                index = self.store.get(name)
                if doc_id is None:
                    raise errors.validation("id is missing")
                result, version = index.delete(doc_id)
                status = 200 if result == "deleted" else 404
            elif action == "update":
                index = self.store.for_write(name)
                if doc_id is None:
                    raise errors.validation("id is missing")
                result, version = self._update(index, doc_id, source or {})
                status = 201 if result == "created" else 200
            else:
                index = self.store.for_write(name)
                op_type = "create" if action == "create" or meta.get("op_type") == "create" else "index"
                doc_id = doc_id if doc_id is not None else auto_id()
                result, version = index.put(doc_id, _check_source(source), op_type, raw)
                status = 201 if result == "created" else 200
        except errors.EsError as error:
            item = {"_index": name, "_id": doc_id, "status": error.status, "error": error.cause()}
            if error.error_type == "index_not_found_exception" and action == "delete":
                item["error"] = error.cause()
            return item, True
        body = _write_result(index, doc_id, result, version)
        body["status"] = status
        return body, False

    # --- mget -------------------------------------------------------------------------------------------------

    def mget(self, default_index: str | None, params: dict[str, str], body: Any) -> Result:
        if parse_bool_param(params.get("realtime"), True) is False:
            # every write is visible at once here, so a reader of the last refresh cannot be told apart
            raise not_supported("realtime=false")
        body = body or {}
        if not isinstance(body, dict):
            raise errors.parsing("request body is required to be an object")
        for key, value in body.items():
            if key not in ("docs", "ids"):
                raise errors.parsing(f"unknown key [{key}] for a {token_name(value)}, expected [docs] or [ids]")
        if "docs" in body:
            docs = body["docs"]
            if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
                raise errors.parsing("docs array element should include an object")
            for doc in docs:
                _check_mget_item(doc)
        elif "ids" in body:
            if not default_index:
                raise errors.validation("index is missing for doc 0")
            if not isinstance(body["ids"], list):
                raise errors.parsing("ids array element should only contain ids")
            docs = [{"_id": i} for i in body["ids"]]
        else:
            raise errors.validation("no documents to get")
        if not docs:
            raise errors.validation("no documents to get")
        default_spec = source_filter_spec(
            params.get("_source"), params.get("_source_includes"), params.get("_source_excludes")
        )
        problems = []
        for n, doc in enumerate(docs):
            if not (doc.get("_index") or default_index):
                problems.append(f"index is missing for doc {n}")
            if doc.get("_id") is None:
                problems.append(f"id is missing for doc {n}")
        if problems:
            raise errors.validation(*problems)
        out = []
        indices = self.store.indices
        for doc in docs:
            name = doc.get("_index") or default_index
            doc_id = json_scalar(doc["_id"])
            index = indices.get(name)
            if index is None:
                out.append({"_index": name, "_id": doc_id, "error": errors.index_not_found(name).error()})
                continue
            ord_ = index.id_to_ord.get(doc_id)
            if ord_ is None:
                out.append({"_index": name, "_id": doc_id, "found": False})
                continue
            fetch, inc, exc = default_spec if "_source" not in doc else source_filter_spec(doc["_source"])
            hit = index.hit_meta(ord_)
            hit["found"] = True
            if fetch:
                hit["_source"] = filter_source(index.source(ord_), inc, exc)
            out.append(hit)
        return 200, {"docs": out}


_MGET_ITEM_KEYS = frozenset({"_index", "_id", "_source", "routing", "_routing"})
_MGET_ITEM_UNSUPPORTED = frozenset({"stored_fields", "version", "version_type"})


def _check_mget_item(doc: dict[str, Any]) -> None:
    """MultiGetRequest.parseDocuments: unknown keys of a ``docs`` item are refused; unimplemented ones too."""
    for key in doc:
        if key in _MGET_ITEM_UNSUPPORTED:
            raise not_supported(f"docs.{key}")
        if key not in _MGET_ITEM_KEYS:
            raise errors.EsError(400, "parse_exception", f"failed to parse multi get request. unknown field [{key}]")
