"""Delivery tables: each department system's webhook endpoint and signing secret.

The outbox and the per-attempt delivery log live with the case runtime (``onething.cases.tables``), because
they are written in the same transactions as the cases; this context only reads and updates them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.db import Base


class DepartmentEndpoint(Base):
    """Where a department's own system receives events (部门系统接收地址), and the secret they are signed with.

    The secret has to be kept readable — the platform signs with it — so it is guarded like a database
    password: set from the CLI (stdin or generated), never logged, never listed, never sent by the API.
    """

    __tablename__ = "department_endpoints"

    department: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    def __repr__(self) -> str:  # never the secret
        return f"DepartmentEndpoint(department={self.department!r}, url={self.url!r}, active={self.active!r})"
