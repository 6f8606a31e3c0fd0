"""The ``q=`` / ``query_string`` subset of the Lucene query syntax, translated to the query DSL.

Supported: bare terms (``default_field``, ``*`` = every keyword and text field), ``field:term``,
``field:(a OR b)``, ``"phrases"``, ``*``/``?`` wildcards (lower-cased on text fields, as the analyzer's normalizer
does), ``field:*`` (exists), ``AND``/``&&``, ``OR``/``||`` and ``default_operator`` between terms that have no
operator. ``AND`` binds tighter than ``OR``. Everything else of the syntax (``NOT``, ``+``/``-``, ranges, fuzzy,
boosts, regular expressions) is refused with a 400 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from devstack.search import errors
from devstack.search.validation import not_supported

_TOKENS = re.compile(r'\s*(?:([()])|("(?:[^"\\]|\\.)*")|([^\s()"]+))')
_UNSUPPORTED = re.compile(r"[\[\]{}~^/<>]")

FieldKind = Callable[[str], str | None]  # field → "text" | "keyword" | "other" | None (unmapped)


def lucene_query(text: str, default_field: str, operator: str, kind: FieldKind, all_fields: list[str]) -> dict:
    """A ``query_string`` text → an equivalent query DSL object."""
    stripped = text.strip()
    if stripped in ("", "*", "*:*"):
        return {"match_all": {}}
    tokens = _tokenize(stripped)
    parser = _Parser(tokens, default_field, operator, kind, all_fields)
    parser.text = text
    query = parser.expression(None)
    if parser.pos < len(tokens):
        raise not_supported(f"q syntax [{tokens[parser.pos]}]")
    return query


def _tokenize(text: str) -> list[str]:
    out = []
    pos = 0
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if not match or match.end() == pos:
            break
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


class _Parser:
    def __init__(
        self, tokens: list[str], default_field: str, operator: str, kind: FieldKind, all_fields: list[str]
    ) -> None:
        self.tokens = tokens
        self.text = ""
        self.pos = 0
        self.default_field = default_field
        self.operator = operator
        self.kind = kind
        self.all_fields = all_fields

    def expression(self, field: str | None) -> dict:
        items: list[tuple[str, dict]] = []
        pending = "default"
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            if token == ")":
                break
            self.pos += 1
            if token in ("AND", "&&"):
                pending = "and"
                continue
            if token in ("OR", "||"):
                pending = "or"
                continue
            if token in ("NOT", "!") or (len(token) > 1 and token[0] in "+-"):
                raise not_supported(f"q syntax [{token}]")
            items.append((pending, self.clause(token, field)))
            pending = "default"
        return self.combine(items)

    def clause(self, token: str, field: str | None) -> dict:
        if token == "(":
            inner = self.expression(field)
            self.expect_close()
            return inner
        if token.startswith('"'):
            return self.phrase(field or self.default_field, token[1:-1])
        name, sep, rest = token.partition(":")
        if sep and name and not name.endswith("\\"):
            if rest:
                return self.term(name, rest)
            if self.pos < len(self.tokens) and self.tokens[self.pos] == "(":
                self.pos += 1
                inner = self.expression(name)
                self.expect_close()
                return inner
            if self.pos < len(self.tokens) and self.tokens[self.pos].startswith('"'):
                self.pos += 1
                return self.phrase(name, self.tokens[self.pos - 1][1:-1])
            raise not_supported(f"q syntax [{token}]")
        return self.term(field or self.default_field, token)

    def expect_close(self) -> None:
        if self.pos >= len(self.tokens) or self.tokens[self.pos] != ")":
            raise errors.EsError(400, "query_shard_exception", f"Failed to parse query [{self.text}]")
        self.pos += 1

    def combine(self, items: list[tuple[str, dict]]) -> dict:
        if not items:
            return {"match_none": {}}
        groups: list[list[dict]] = [[items[0][1]]]
        for connector, query in items[1:]:
            effective = self.operator if connector == "default" else connector
            if effective == "and":
                groups[-1].append(query)
            else:
                groups.append([query])
        ands = [g[0] if len(g) == 1 else {"bool": {"must": g}} for g in groups]
        return ands[0] if len(ands) == 1 else {"bool": {"should": ands, "minimum_should_match": 1}}

    def fields(self, field: str) -> list[str]:
        if field == "*":
            return self.all_fields
        if "*" in field:
            raise not_supported(f"q field pattern [{field}]")
        return [field]

    def any_of(self, field: str, build: Callable[[str], dict]) -> dict:
        names = self.fields(field)
        if len(names) == 1:
            return build(names[0])
        if not names:
            return {"match_none": {}}
        return {"bool": {"should": [build(f) for f in names], "minimum_should_match": 1}}

    def term(self, field: str, value: str) -> dict:
        bad = _UNSUPPORTED.search(value)
        if bad:
            raise not_supported(f"q syntax [{bad.group(0)}] in [{value}]")
        if value == "*":
            return {"match_all": {}} if field == "*" else {"exists": {"field": field}}
        if "*" in value or "?" in value:
            return self.any_of(field, lambda f: self.wildcard(f, value))
        return self.any_of(field, lambda f: self.single(f, value))

    def wildcard(self, field: str, value: str) -> dict:
        pattern = value.lower() if self.kind(field) == "text" else value
        return {"wildcard": {field: {"value": pattern}}}

    def single(self, field: str, value: str) -> dict:
        if self.kind(field) == "text":
            return {"match": {field: {"query": value, "operator": self.operator}}}
        return {"term": {field: {"value": value}}}

    def phrase(self, field: str, text: str) -> dict:
        def build(f: str) -> dict:
            if self.kind(f) == "text":
                return {"match_phrase": {f: text}}
            return {"term": {f: {"value": text}}}

        return self.any_of(field, build)
