"""The audit API (审计): published checkpoint hashes for anyone, and the auditor's search of the chain.

``GET /api/v1/audit/checkpoints`` is public on purpose: outside parties keep copies of the hashes and can later
hold the platform to them. ``GET /api/v1/audit/entries`` needs the ``audit:read`` permission (role auditor).
There is no route that changes or deletes an entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import Engine

from onething.audit import tree
from onething.audit.checkpoints import EntryFilter, list_checkpoints, search_entries
from onething.db import session_scope
from onething.web.auth import CurrentActor
from onething.web.deps import get_engine
from onething.web.limits import OptionalQueryId
from onething.web.problems import problem_responses

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

EngineDep = Annotated[Engine, Depends(get_engine)]


@router.get("/checkpoints")
def checkpoints(engine: EngineDep, limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[dict[str, Any]]:
    """Checkpoint hashes of the audit chain, newest first (公开的检查点哈希)."""
    with session_scope(engine) as session:
        return [{"id": c.id, "last_id": c.last_id, "hash": c.hash, "count": c.count, "at": c.at.isoformat()}
                for c in list_checkpoints(session, limit)]


@router.get("/entries", responses=problem_responses(401, 403))
def entries(
    actor: CurrentActor, engine: EngineDep,
    action: str | None = None, action_prefix: str | None = None, actor_name: str | None = None,
    department: str | None = None, application_id: str | None = None, subject_type: str | None = None,
    subject_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
    after_id: OptionalQueryId = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Search the audit log (auditors only), oldest first; page on with `after_id` = the last id seen."""
    since, until = (t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t for t in (since, until))
    query = EntryFilter(action=action, action_prefix=action_prefix, actor_name=actor_name, department=department,
                        application_id=application_id, subject_type=subject_type, subject_id=subject_id,
                        since=since, until=until, after_id=after_id, limit=limit)
    with session_scope(engine) as session:
        return [{"id": e.id, "at": e.at.isoformat(), "actor_id": e.actor_id, "actor_name": e.actor_name,
                 "actor_role": e.actor_role, "action": e.action, "subject_type": e.subject_type,
                 "subject_id": e.subject_id, "application_id": e.application_id, "department": e.department,
                 "before": e.before, "after": e.after, "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash}
                for e in search_entries(session, actor, query)]


class CheckpointOut(BaseModel):
    """The latest signed checkpoint of the Merkle tree log (ADR 021)."""

    tree_size: int
    root_hash: str
    signature: str
    key_id: str
    note: str


class InclusionOut(BaseModel):
    """An entry's inclusion proof (RFC 9162 §2.1.3): ``leaf`` is the exact UTF-8 text hashed into the leaf."""

    entry_id: int
    leaf_index: int
    tree_size: int
    leaf: str
    leaf_hash: str
    hashes: list[str]


class ConsistencyOut(BaseModel):
    """A consistency proof between two tree sizes (RFC 9162 §2.1.4)."""

    first: int
    second: int
    hashes: list[str]


class LogKeyOut(BaseModel):
    """The log's public key (公开): what a verifier needs to check checkpoint signatures."""

    name: str
    key_id: str
    public_key: str
    vkey: str


@router.get("/log-key", response_model=LogKeyOut)
def log_key() -> LogKeyOut:
    """The Ed25519 public key that signs the checkpoints, and the same as a C2SP verifier key (`vkey`, the
    `--vkey` of scripts/verify-audit-proof.py)."""
    import base64

    key = tree.log_key()
    return LogKeyOut(name=key.name, key_id=key.key_id.hex(),
                     public_key=base64.b64encode(key.public_bytes).decode("ascii"), vkey=tree.vkey(key))


@router.get("/checkpoints/latest", response_model=CheckpointOut, responses=problem_responses(404))
def latest_checkpoint(engine: EngineDep) -> CheckpointOut:
    """The latest signed checkpoint (公开): tree size, root hash, Ed25519 signature and the signed note."""
    from onething.accounts.errors import NotFound

    with session_scope(engine) as session:
        found = tree.latest_checkpoint(session)
        if found is None:
            raise NotFound("checkpoint")
        return CheckpointOut(**tree.checkpoint_json(found))


@router.get("/entries/{entry_id}/proof", response_model=InclusionOut, responses=problem_responses(401, 404))
def entry_proof(actor: CurrentActor, engine: EngineDep, entry_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                tree_size: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> InclusionOut:
    """An entry's inclusion proof in the tree of ``tree_size`` leaves (default: the latest checkpoint's).
    Auditors: any entry; a citizen: the uses of their own data; 404 otherwise."""
    with session_scope(engine) as session:
        proof = tree.proof_for(session, actor, entry_id, tree_size)
        return InclusionOut(entry_id=proof.entry_id, leaf_index=proof.leaf_index, tree_size=proof.tree_size,
                            leaf=proof.leaf, leaf_hash=proof.leaf_hash, hashes=proof.hashes)


@router.get("/consistency", response_model=ConsistencyOut, responses=problem_responses(404))
def consistency(engine: EngineDep, first: Annotated[int, Query(ge=0, le=2**31 - 1)],
                second: Annotated[int, Query(ge=0, le=2**31 - 1)]) -> ConsistencyOut:
    """The consistency proof from tree size ``first`` to ``second`` (public: hashes only)."""
    from onething.accounts.errors import NotFound

    with session_scope(engine) as session:
        try:
            hashes = tree.consistency_proof(session, first, second)
        except ValueError:
            raise NotFound("tree size", second) from None
        return ConsistencyOut(first=first, second=second, hashes=hashes)
