"""Daily reconciliation (对账) with the national hub, and what operators see of the records.

``reconcile(day)`` lists the records this platform made on ``day`` (China's date of the change), asks the
hub for its listing of that day (a signed ``GET <url>/reconciliation?date=YYYY-MM-DD``), and compares:

- a record the hub lacks although we counted it answered, or that ran out of attempts, is **missing**: it is
  made due again with a fresh attempt budget and sent at once;
- a record the hub lists as acknowledged that we never saw acknowledged (our worker stopped between the
  hub's answer and our commit) is **confirmed** from the listing;
- a record still waiting for its next attempt is **pending** and left to the sender;
- an id the hub lists that we never made is **unknown** (reported, never acted upon).

Every run is a ``hub_reconciliations`` row (counts, and the ids in each class) and an audit entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from onething.accounts.model import Actor
from onething.audit.service import append
from onething.cases.tables import OutboxEvent
from onething.db import session_scope
from onething.delivery.service import ClaimedEvent
from onething.hub.api import NATIONAL_CASE, NATIONAL_RATING
from onething.hub.sender import REJECTED, HubSender, endpoint, signed_headers
from onething.hub.settings import HubSettings, get_hub_settings
from onething.hub.spec import CHINA
from onething.hub.tables import HubReceipt, HubReconciliation

KINDS = (NATIONAL_CASE, NATIONAL_RATING)


class HubListingError(RuntimeError):
    """The hub's reconciliation listing could not be had (down, refused, or not a listing)."""


@dataclass
class Reconciliation:
    report_date: date
    ours: int = 0
    at_hub: int = 0
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    resent: dict[str, str] = field(default_factory=dict)  # record id → outcome of the resend

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["report_date"] = self.report_date.isoformat()
        return data


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants that bound China's ``day``."""
    start = datetime.combine(day, time(0), CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


def hub_listing(client: httpx.Client, settings: HubSettings, day: date, now: datetime) -> dict[str, str]:
    """The hub's records of ``day``: record id → its status there (acknowledged / rejected)."""
    url = endpoint(settings, f"/reconciliation?date={day.isoformat()}")
    try:
        response = client.get(url, headers=signed_headers(settings, "GET", url, b"", now),
                              timeout=settings.timeout_seconds)
    except httpx.HTTPError as exc:
        raise HubListingError(f"national hub unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise HubListingError(f"national hub answered {response.status_code} to the listing")
    try:
        body = response.json()
        return {str(r["record_id"]): str(r.get("status") or "") for r in body["records"]}
    except (ValueError, KeyError, TypeError):
        raise HubListingError("national hub listing is not {records: [{record_id, status}]}") from None


def _ours(session: Session, day: date) -> list[OutboxEvent]:
    start, end = day_bounds(day)
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.kind.in_(KINDS),
                                                          OutboxEvent.created_at >= start,
                                                          OutboxEvent.created_at < end)
                                .order_by(OutboxEvent.id)))


def reconcile(engine: Engine, day: date, *, actor: Actor, now: datetime, settings: HubSettings | None = None,
              client: httpx.Client | None = None) -> Reconciliation:
    """Compare ``day``'s records with the hub's listing, send the missing ones again, record the run."""
    settings = settings or get_hub_settings()
    owns = client is None
    client = client or httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)
    try:
        listing = hub_listing(client, settings, day, now)
        result = Reconciliation(day, at_hub=len(listing))
        with session_scope(engine) as session:
            rows = _ours(session, day)
            result.ours = len(rows)
            receipts = {r.record_id: r for r in session.scalars(
                select(HubReceipt).where(HubReceipt.record_id.in_([r.event_id for r in rows])))}
            ids = set()
            resend: list[ClaimedEvent] = []
            for row in rows:
                ids.add(row.event_id)
                at_hub = listing.get(row.event_id)
                answered = row.delivered_at is not None
                dead = not answered and row.attempts >= settings.max_attempts
                if at_hub is not None:
                    if at_hub == "acknowledged" and (row.event_id not in receipts
                                                     or receipts[row.event_id].status != "acknowledged"):
                        _confirm(session, row, receipts.get(row.event_id), now)
                        result.confirmed.append(row.event_id)
                    else:
                        result.matched.append(row.event_id)
                elif answered or dead:
                    # Due again with a fresh budget, and held by this run (a lease) while it sends it now.
                    row.delivered_at, row.attempts, row.available_at = None, 0, now
                    row.locked_until = now + timedelta(seconds=settings.lease_seconds)
                    result.missing.append(row.event_id)
                    resend.append(ClaimedEvent(row.id, row.event_id, row.kind, row.department, row.application_id,
                                               dict(row.payload or {}), row.created_at, 0, row.locked_until))
                else:
                    result.pending.append(row.event_id)
            result.unknown = sorted(set(listing) - ids)
        if resend:
            sender = HubSender(engine, settings, client=client, clock=lambda: now)
            for event in resend:
                result.resent[event.event_id] = sender.send(event)
        with session_scope(engine) as session:
            session.add(HubReconciliation(report_date=day, run_at=now, ours=result.ours, at_hub=result.at_hub,
                                          missing=len(result.missing), resent=len(result.resent),
                                          details=json.loads(json.dumps(result.to_json()))))
            append(session, actor, "hub.reconciled", "hub_reconciliation", day.isoformat(), now=now,
                   data={"date": day.isoformat(), "ours": result.ours, "at_hub": result.at_hub,
                         "missing": len(result.missing), "confirmed": len(result.confirmed),
                         "unknown": len(result.unknown), "resent": len(result.resent)})
        return result
    finally:
        if owns:
            client.close()


def _confirm(session: Session, row: OutboxEvent, receipt: HubReceipt | None, now: datetime) -> None:
    if row.delivered_at is None or (row.last_error or "").startswith(REJECTED):
        row.delivered_at, row.locked_until, row.last_error = now, None, None
    payload = row.payload or {}
    if receipt is None:
        session.add(HubReceipt(record_id=row.event_id, record_type=str(payload.get("record_type") or ""),
                               application_id=row.application_id, case_number=payload.get("case_number"),
                               status="acknowledged", receipt=None, problems=None, answered_at=now))
    else:
        receipt.status, receipt.problems, receipt.answered_at = "acknowledged", None, now


# --- what operators see ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordView:
    record_id: str
    record_type: str
    case_number: str | None
    status: str            # pending | retrying | dead | acknowledged | rejected
    summary: str           # 办件状态 or 评价等级
    created_at: datetime
    attempts: int
    problems: list[dict[str, Any]]
    last_error: str | None


def list_records(session: Session, *, status: str | None = None, limit: int = 50,
                 max_attempts: int | None = None) -> list[RecordView]:
    """Records for the hub, newest first, with the hub's answer; ``status`` filters (e.g. ``rejected``)."""
    max_attempts = max_attempts if max_attempts is not None else get_hub_settings().max_attempts
    query = (select(OutboxEvent, HubReceipt).outerjoin(HubReceipt, HubReceipt.record_id == OutboxEvent.event_id)
             .where(OutboxEvent.kind.in_(KINDS)).order_by(OutboxEvent.id.desc()))
    if status in ("acknowledged", "rejected"):
        query = query.where(HubReceipt.status == status, OutboxEvent.delivered_at.is_not(None)).limit(limit)
    elif status in ("pending", "retrying", "dead"):
        query = query.where(OutboxEvent.delivered_at.is_(None))
    elif status is not None:
        raise ValueError(f"unknown status {status!r}")
    rows = session.execute(query).all()
    views = []
    for event, receipt in rows:
        if receipt is not None and event.delivered_at is not None:
            derived = receipt.status
        elif event.delivered_at is not None:
            derived = "acknowledged"
        elif event.attempts >= max_attempts:
            derived = "dead"
        else:
            derived = "retrying" if event.attempts else "pending"
        if status is not None and derived != status:
            continue
        payload = event.payload or {}
        summary = (f"{payload.get('status_name')}" if payload.get("record_type") == "case_status"
                   else f"评价 {payload.get('level_name')}")
        procedure = payload.get("procedure")
        if isinstance(procedure, dict) and procedure.get("name"):
            summary += f"（{procedure['name']}）"
        views.append(RecordView(event.event_id, str(payload.get("record_type") or event.kind),
                                payload.get("case_number"), derived, summary, event.created_at, event.attempts,
                                list((receipt.problems if receipt is not None else None) or []),
                                event.last_error))
        if len(views) >= limit:
            break
    return views


def list_reconciliations(session: Session, limit: int = 30) -> list[HubReconciliation]:
    return list(session.scalars(select(HubReconciliation).order_by(HubReconciliation.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Overview:
    """The operator page's section on national reporting."""

    enabled: bool
    counts: dict[str, int]
    rejected: list[RecordView]
    last_run: HubReconciliation | None


def overview(session: Session, *, rejected_limit: int = 10) -> Overview:
    """Whether reporting is on, how many records are waiting, dead, acknowledged or rejected, the latest
    rejections with their reasons, and the last reconciliation."""
    settings = get_hub_settings()
    open_rows = session.execute(select(OutboxEvent.attempts).where(OutboxEvent.kind.in_(KINDS),
                                                                    OutboxEvent.delivered_at.is_(None))).all()
    dead = sum(1 for (attempts,) in open_rows if attempts >= settings.max_attempts)
    counts = {"pending": len(open_rows) - dead, "dead": dead, "acknowledged": 0, "rejected": 0}
    for status, n in session.execute(select(HubReceipt.status, func.count(HubReceipt.record_id))
                                     .group_by(HubReceipt.status)).all():
        counts[str(status)] = int(n)
    runs = list_reconciliations(session, limit=1)
    return Overview(settings.enabled, counts, list_records(session, status="rejected", limit=rejected_limit),
                    runs[0] if runs else None)
