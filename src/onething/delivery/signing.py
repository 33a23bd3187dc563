"""Webhook signatures (签名): HMAC-SHA256 over ``timestamp + "." + body`` with the department's secret.

The timestamp is Unix seconds, sent in ``X-Onething-Timestamp``; signing it with the body lets a receiver
refuse replays older than its tolerance. Receivers need only the standard library to verify (see
docs/department-integration.md); this module is what the platform and the sandbox department use.

The platform's requests to data holders' services (exchange ``HttpProvider``) use the same scheme and headers,
with the request line in front of the body (``sign_request``): ``timestamp + "." + METHOD + " " + path + "\n" +
body``, so that a signed query for one resource cannot be replayed against another (docs/exchange.md).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

SCHEME = "sha256"

HEADER_EVENT_ID = "X-Onething-Event-Id"
HEADER_EVENT = "X-Onething-Event"
HEADER_TIMESTAMP = "X-Onething-Timestamp"
HEADER_SIGNATURE = "X-Onething-Signature"
HEADER_ATTEMPT = "X-Onething-Delivery-Attempt"


def timestamp_of(now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return str(int(now.timestamp()))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Onething-Signature`` value: ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    message = timestamp.encode("ascii") + b"." + body
    return f"{SCHEME}={hmac.new(secret.encode('utf-8'), message, hashlib.sha256).hexdigest()}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: datetime,
                     tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """True when ``signature`` is ours for this body and timestamp, and the timestamp is within ``tolerance``
    of ``now`` (either side: clocks drift). Compares in constant time."""
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip())


def request_message(method: str, path: str, body: bytes) -> bytes:
    """What a signed request covers besides its timestamp: the request line (method and path) and the body."""
    return f"{method.upper()} {path}\n".encode() + body


def sign_request(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The ``X-Onething-Signature`` of an outbound request to a data holder's service."""
    return sign(secret, timestamp, request_message(method, path, body))


def verify_request(secret: str, timestamp: str, method: str, path: str, body: bytes, signature: str,
                   now: datetime, tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """``verify_signature`` for a signed request: the same secret, tolerance and constant-time compare."""
    return verify_signature(secret, timestamp, request_message(method, path, body), signature, now, tolerance)
