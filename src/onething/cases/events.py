"""What a case action leaves behind besides its state: audit entries and outbox events (发件箱).

A service collects both on a :class:`Changes` while it works and writes them with :meth:`Changes.write` just
before its transaction commits — so they exist exactly when the state change does, and the audit head (a
platform-wide lock) is held only for the last moment of the transaction.

Outbox events are addressed to one department each (``department``): an application-wide event such as
``application.submitted`` is written once per department with a task in it. Each payload is the body the
worker posts: ``{event_id, kind, occurred_at, application, department, ...}``; receivers de-duplicate on
``event_id``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from onething.accounts.model import Actor
from onething.audit import service as audit
from onething.cases.national import national_events
from onething.cases.tables import OutboxEvent

EVENT_KINDS = frozenset({
    "application.submitted", "task.ready", "task.decided", "supplement.requested", "supplement.answered",
    "application.completed", "application.rated", "rectification.answered",
    # Extensions: departments must learn that work they hold is void.
    "application.withdrawn", "application.rejected",
    # Certificates (电子证照) issued with an approval, and revoked by their department.
    "certificate.issued", "certificate.revoked",
    # Records for the national platform (国家政务服务平台), derived in ``Changes.write`` (cases/national.py);
    # the hub sender takes them, department workers never do.
    "national.case", "national.rating",
    # A text message to the applicant, posted to the SMS gateway (delivery/sms.py), not to a department.
    "sms.send",
})


@dataclass
class Changes:
    """Audit entries and outbox events of one transaction, written together at its end."""

    actor: Actor
    now: datetime
    audits: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def audit(self, action: str, subject_type: str, subject_id: str | int, *, application_id: str | None,
              department: str | None = None, before: Any = None, after: Any = None, data: Any = None) -> None:
        self.audits.append({
            "action": action, "subject_type": subject_type, "subject_id": subject_id,
            "application_id": application_id, "department": department, "before": before, "after": after,
            "data": data,
        })

    def event(self, kind: str, *, department: str | None, application_id: str, payload: dict[str, Any]) -> None:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "kind": kind, "occurred_at": self.now.astimezone(UTC).isoformat(),
                "application": application_id, "department": department, **payload}
        self.events.append({
            "event_id": event_id, "kind": kind, "department": department, "application_id": application_id,
            "payload": body, "created_at": self.now, "available_at": self.now, "attempts": 0,
        })

    def write(self, session: Session) -> None:
        """Insert the outbox rows, then append the audit entries (taking the chain's lock last)."""
        if self.events:
            self.events.extend(national_events(session, self.events, self.now))
            session.execute(insert(OutboxEvent), self.events)
        # One batch: the chain's head is locked once, the entries go in with one executemany.
        audit.append_many(session, [{"actor": self.actor, **entry} for entry in self.audits], self.now)
        self.audits.clear()
        self.events.clear()
