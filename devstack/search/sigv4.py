"""AWS Signature Version 4 verification for the server's OpenSearch mode (Amazon OpenSearch Service).

The server knows the test credentials (access key ``test``, secret ``test``, like the tests' S3 server),
recomputes each request's signature from the wire (method, path, query, signed headers, body hash) and
answers a refused request with the 403 bodies Amazon OpenSearch Service sends. Session tokens are part of
the signature; the set of accepted tokens can be changed at run time to play a credential rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

MAX_SKEW = timedelta(minutes=5)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)
TOKEN_INVALID = "The security token included in the request is invalid."
TOKEN_EXPIRED = "The security token included in the request is expired"
_ACTIONS = {"GET": "ESHttpGet", "HEAD": "ESHttpHead", "POST": "ESHttpPost", "PUT": "ESHttpPut"}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_path(path: str) -> str:
    normalized = posixpath.normpath(path) if path not in ("", "/") else "/"
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def _canonical_query(query: str) -> str:
    pairs = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class SigV4Verifier:
    """Checks ``Authorization: AWS4-HMAC-SHA256 ...`` like an Amazon OpenSearch Service domain in ``region``."""

    def __init__(self, region: str, service: str = "es", credentials: dict[str, str] | None = None) -> None:
        self.region = region
        self.service = service
        self.credentials = dict(credentials or {"test": "test"})
        self.session_tokens: set[str] | None = None  # None: any token (or none) is valid
        self.expired_tokens: set[str] = set()
        self.accepted = 0
        self.rejected = 0
        self._lock = threading.Lock()

    def configure(self, body: dict[str, Any]) -> None:
        """Control API: ``{"session_tokens": [...] | null, "expired_tokens": [...]}``."""
        with self._lock:
            if "session_tokens" in body:
                tokens = body["session_tokens"]
                self.session_tokens = None if tokens is None else {str(t) for t in tokens}
            if "expired_tokens" in body:
                self.expired_tokens = {str(t) for t in body["expired_tokens"]}

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "region": self.region,
                "service": self.service,
                "session_tokens": None if self.session_tokens is None else sorted(self.session_tokens),
                "expired_tokens": sorted(self.expired_tokens),
                "accepted": self.accepted,
                "rejected": self.rejected,
            }

    def verify(
        self, method: str, target: str, headers: Any, body: bytes, now: datetime | None = None
    ) -> dict[str, Any] | None:
        """Return ``None`` when the request is correctly signed, else the 403 body to answer."""
        refusal = self._refusal(method, target, headers, body, now or datetime.now(UTC))
        with self._lock:
            if refusal is None:
                self.accepted += 1
            else:
                self.rejected += 1
        return refusal

    def _refusal(self, method: str, target: str, headers: Any, body: bytes, now: datetime) -> dict[str, Any] | None:
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            action = _ACTIONS.get(method, "ESHttpDelete")
            return {
                "Message": f"User: anonymous is not authorized to perform: es:{action} because no resource-based "
                f"policy allows the es:{action} action"
            }
        fields = dict(
            part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",") if "=" in part
        )
        try:
            access_key, day, region, service, terminal = fields["Credential"].split("/")
            signed_names = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            return {"message": "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."}
        if region != self.region:
            return {"message": f"Credential should be scoped to a valid region, not '{region}'. "}
        if service != self.service or terminal != "aws4_request":
            return {"message": f"Credential should be scoped to correct service: '{self.service}'. "}
        secret = self.credentials.get(access_key)
        if secret is None:
            return {"message": TOKEN_INVALID}
        token = headers.get("X-Amz-Security-Token")
        with self._lock:
            expired, valid = self.expired_tokens, self.session_tokens
        if token is not None and token in expired:
            return {"message": TOKEN_EXPIRED}
        if valid is not None and token not in valid:
            return {"message": TOKEN_INVALID}
        if token is not None and "x-amz-security-token" not in signed_names:
            return {"message": SIGNATURE_MISMATCH}
        stamp = headers.get("X-Amz-Date") or ""
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return {"message": "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
        if signed_at < now - MAX_SKEW:
            return {
                "message": f"Signature expired: {stamp} is now earlier than "
                f"{(now - MAX_SKEW):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 5 min.)"
            }
        if signed_at > now + MAX_SKEW or day != stamp[:8]:
            latest = now + MAX_SKEW
            return {"message": f"Signature not yet current: {stamp} is still later than {latest:%Y%m%dT%H%M%SZ}"}
        body_hash = hashlib.sha256(body).hexdigest()
        declared = headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != body_hash:
            return {"message": "The provided 'x-amz-content-sha256' header does not match what was computed."}
        path, _, query = target.partition("?")
        canonical = "\n".join(
            [
                method,
                _canonical_path(path),
                _canonical_query(query),
                "".join(f"{name}:{self._header(headers, name)}\n" for name in signed_names),
                ";".join(signed_names),
                declared or body_hash,
            ]
        )
        scope = f"{day}/{region}/{service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), service), "aws4_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return {"message": SIGNATURE_MISMATCH}
        return None

    @staticmethod
    def _header(headers: Any, name: str) -> str:
        values: Iterable[str] = headers.get_all(name) or []
        return ",".join(" ".join(str(v).split()) for v in values)
