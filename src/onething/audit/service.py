"""Append to and verify the audit chain (审计链).

``append`` is called by every context's services inside their own transaction, so an entry is written if and
only if the state change it records is committed. Appends are serialised on the ``audit_head`` row — on
PostgreSQL with ``SELECT … FOR UPDATE``; SQLite serialises writers itself, and a no-op ``UPDATE`` first makes
this transaction the writer before it reads the head — so the chain never forks. Later work (checkpoints
signed off-site, ``onething audit verify``) builds on ``entry_hash`` and ``verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Table, Text, cast, func, insert, select, text, type_coerce, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached

from onething.accounts.model import Actor
from onething.audit import chain
from onething.audit.tables import GENESIS_HASH, AuditCheckpoint, AuditEntry, AuditHead

HEAD_ID = 1


def _plain(value: Any) -> Any:
    """JSON-ready copy of a value: what is stored is exactly what is hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_content(entry: AuditEntry | Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of an entry (everything but its id and hashes), in canonical form."""
    def get(key: str) -> Any:
        return entry[key] if isinstance(entry, Mapping) else getattr(entry, key)

    return {
        "at": _timestamp(get("at")), "actor_id": get("actor_id"), "actor_name": get("actor_name"),
        "actor_role": get("actor_role"), "action": get("action"), "subject_type": get("subject_type"),
        "subject_id": get("subject_id"), "application_id": get("application_id"),
        "department": get("department"), "before": get("before"), "after": get("after"), "data": get("data"),
    }


# What ``json.dumps(…, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` builds on every call, built
# once: the output is the same, and verifying a million entries no longer makes a million encoders.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(content: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the content and ``prev_hash``."""
    canonical = _CANONICAL.encode({"content": content, "prev_hash": prev_hash})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
_MARKS: Table = AuditCheckpoint.__table__  # type: ignore[assignment]
# SQLite: take the write lock before reading, so no other writer can chain onto the same head.
_TAKE_WRITE_LOCK = update(_HEADS).where(_HEADS.c.id == HEAD_ID).values(count=_HEADS.c.count)
_READ_HEAD = select(_HEADS.c.count, _HEADS.c.last_hash).where(_HEADS.c.id == HEAD_ID).with_for_update()
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.id == HEAD_ID)
_INSERT_MARKS = insert(_MARKS)


def _lock_head(connection: Connection) -> tuple[int, str]:
    if connection.dialect.name == "sqlite":
        connection.execute(_TAKE_WRITE_LOCK)
    row = connection.execute(_READ_HEAD).one_or_none()
    if row is None:
        # A schema made without the migration (which seeds the head): start the chain here.
        connection.execute(insert(_HEADS).values(id=HEAD_ID, count=0, last_id=None, last_hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def _checkpoint_every() -> int:
    from onething.config import get_settings

    return get_settings().audit_checkpoint_every


def _values(actor: Actor, action: str, subject_type: str, subject_id: str | int, *, now: datetime,
            before: Any = None, after: Any = None, data: Any = None, application_id: str | None = None,
            department: str | None = None) -> dict[str, Any]:
    """The stored (and hashed) column values of one new entry, in canonical form."""
    return {
        "at": now.astimezone(UTC), "actor_id": actor.user_id, "actor_name": actor.name,
        "actor_role": actor.role.value, "action": action, "subject_type": subject_type,
        "subject_id": str(subject_id), "application_id": application_id, "department": department,
        "before": _plain(before), "after": _plain(after), "data": _plain(data),
    }


_ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]  # declared: a FromClause, built: a Table
# Core, not ORM: one executemany of plain dicts; RETURNING the ids in the order the rows were given.
_INSERT_ENTRIES = insert(_ENTRIES).returning(_ENTRIES.c.id, sort_by_parameter_order=True)
_INSERT_ENTRY = insert(_ENTRIES).returning(_ENTRIES.c.id)


def append_many(session: Session, entries: Sequence[Mapping[str, Any]], now: datetime, *,
                hash_format: int | None = None) -> list[int]:
    """Append several entries inside the caller's transaction, in order; return their ids.

    Each entry is a mapping of ``append``'s arguments: ``actor``, ``action``, ``subject_type``,
    ``subject_id`` and optionally ``before``, ``after``, ``data``, ``application_id``, ``department`` and its
    own ``now`` (else ``now``). The chain's head is locked once, the hashes are chained in Python exactly as
    successive ``append`` calls would chain them, the rows go in with one executemany (ids assigned in the
    order given) and the head moves once — three statements however many entries.
    """
    rows: list[dict[str, Any]] = []
    for entry in entries:
        arguments = dict(entry)
        arguments.setdefault("now", now)
        rows.append(_values(**arguments))
    return _write(session, rows, hash_format)


_COLUMNS = ("at", "actor_id", "actor_name", "actor_role", "action", "subject_type", "subject_id", "application_id",
            "department", "before", "after", "data")


def entry_digest(entry: AuditEntry | Mapping[str, Any], prev_hash: str, hash_format: int | None = None) -> str:
    """The hash an entry (an ``AuditEntry`` or a mapping of its column values, ``at`` an aware datetime) has in
    its format (``hash_format``, else the entry's own), following ``prev_hash``."""
    values = entry if isinstance(entry, Mapping) else {name: getattr(entry, name) for name in _COLUMNS}
    if hash_format is None:
        hash_format = int(entry["hash_format"] if isinstance(entry, Mapping) else entry.hash_format)
    if hash_format in (chain.FORMAT, chain.TREE_FORMAT):
        return chain.text_hash(chain.entry_text(values), prev_hash)
    if hash_format == 1:
        return entry_hash(entry_content(values), prev_hash)
    raise ValueError(f"unknown audit hash format {hash_format}")


def append_format() -> int:
    """The hash format new entries get: 3 (no chain, no shared lock; the Merkle tree orders them, ADR 021) when
    ``settings.audit_append`` is ``tree``, else 2 (chained under the head row's lock)."""
    from onething.config import get_settings

    return chain.TREE_FORMAT if get_settings().audit_append == "tree" else chain.FORMAT


def _write_unchained(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Format 3 (ADR 021): each entry hashed on its own with a random salt in ``prev_hash`` (so two identical
    entries still differ), inserted with no lock and no head row: the sequencer gives them their order."""
    connection = session.connection()
    for row in rows:
        salt = secrets.token_hex(32)
        row["prev_hash"] = salt
        row["hash"] = chain.text_hash(chain.entry_text(row), salt)
        row["hash_format"] = chain.TREE_FORMAT
    if len(rows) == 1:
        return [int(connection.execute(_INSERT_ENTRY, rows[0]).scalar_one())]
    return [int(i) for i in connection.execute(_INSERT_ENTRIES, rows).scalars()]


def _write(session: Session, rows: list[dict[str, Any]], hash_format: int | None = None) -> list[int]:
    """Chain ``rows`` onto the locked head (adding their hashes), insert them in one go, move the head.

    Core statements on the session's connection (its transaction), not ORM execution: the append is on every
    state change's path and the head lock is held until commit, so it is kept to what it needs. An entry
    whose position in the chain is a multiple of ``audit_checkpoint_every`` gets its checkpoint here, in the
    same transaction: checkpoints fall at regular positions whoever appends, and cost no query otherwise.
    """
    if not rows:
        return []
    if hash_format is None:
        hash_format = append_format()
    if hash_format == chain.TREE_FORMAT:
        return _write_unchained(session, rows)
    connection = session.connection()
    count, prev_hash = _lock_head(connection)
    for row in rows:
        digest = entry_digest(row, prev_hash, hash_format)
        row["prev_hash"] = prev_hash
        row["hash"] = digest
        row["hash_format"] = hash_format
        prev_hash = digest
    if len(rows) == 1:
        ids = [int(connection.execute(_INSERT_ENTRY, rows[0]).scalar_one())]
    else:
        ids = [int(i) for i in connection.execute(_INSERT_ENTRIES, rows).scalars()]
    if len(ids) != len(rows):  # pragma: no cover - the driver returned fewer rows than it inserted
        raise RuntimeError(f"audit insert returned {len(ids)} ids for {len(rows)} entries")
    connection.execute(_MOVE_HEAD.values(count=count + len(rows), last_id=ids[-1], last_hash=prev_hash))
    every = _checkpoint_every()
    if every > 0 and (count + len(rows)) // every > count // every:
        marks = [{"last_id": ids[k], "hash": rows[k]["hash"], "count": count + k + 1, "at": rows[k]["at"]}
                 for k in range(len(rows)) if (count + k + 1) % every == 0]
        connection.execute(_INSERT_MARKS, marks)
    return ids


def append(session: Session, actor: Actor, action: str, subject_type: str, subject_id: str | int, *,
           now: datetime, before: Any = None, after: Any = None, data: Any = None,
           application_id: str | None = None, department: str | None = None,
           hash_format: int | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction and return it (written, with its id).

    ``hash_format`` 1 exists only to build chains as they were written before migration 0007 (tests)."""
    row = _values(actor, action, subject_type, subject_id, now=now, before=before, after=after, data=data,
                  application_id=application_id, department=department)
    (entry_id,) = _write(session, [row], hash_format)
    # The row just written, as a persistent object without reading it back.
    entry = AuditEntry(id=entry_id, **row)
    make_transient_to_detached(entry)
    session.add(entry)
    return entry


def verify(session: Session, batch: int = 5000) -> tuple[int, int | None]:
    """Walk the chain in order: (entries checked, id of the first bad entry or None when intact).

    An entry is bad when its ``prev_hash`` is not its predecessor's hash or its ``hash`` does not match its
    content. A chain cut short at the end (the head names a later entry) reports the head's last id.
    """
    count, broken, _ = walk(session, batch=batch)
    return count, broken


# The hashed columns in ``entry_content`` order, read raw: JSON cast to its stored text (else psycopg parses
# every JSON value, ``null`` included) and ``at`` as the driver gives it, so that no ORM object, JSON column
# processor or datetime parser runs per entry.
_RAW_COLUMNS = (
    AuditEntry.id, AuditEntry.prev_hash, AuditEntry.hash, type_coerce(AuditEntry.at, String),
    AuditEntry.actor_id, AuditEntry.actor_name, AuditEntry.actor_role, AuditEntry.action, AuditEntry.subject_type,
    AuditEntry.subject_id, AuditEntry.application_id, AuditEntry.department, cast(AuditEntry.before, Text),
    cast(AuditEntry.after, Text), cast(AuditEntry.data, Text),
)


_decode = json.JSONDecoder().decode


def _raw_json(value: Any) -> Any:
    if value is None or value == "null":  # most before/after columns: no parse
        return None
    return _decode(value) if isinstance(value, str) else value


def _raw_timestamp(value: Any) -> str | None:
    """``_timestamp`` of a raw ``at``: SQLite's stored text (naive UTC, always with microseconds) or a driver's
    datetime; None for anything else, which the exact path then handles."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        return None
    if isinstance(value, datetime):
        return _timestamp(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    return None


def _matches_exactly(session: Session, entry_id: int) -> bool:
    """The slow, exact check of one entry through the ORM (``entry_content``), for a raw-path mismatch."""
    entry = session.get(AuditEntry, entry_id, populate_existing=True)
    return entry is not None and entry.hash == entry_hash(entry_content(entry), entry.prev_hash)


def walk(session: Session, *, batch: int = 5000, watch: Collection[int] = ()
         ) -> tuple[int, int | None, dict[int, tuple[int, str]]]:
    """``verify``'s walk, also noting for each id in ``watch`` its position in the chain and its hash.

    The entries of hash format 1 (those written before migration 0007) come first and are walked in Python
    (``_walk_format1``); every entry from the first of format 2 on must be of format 2 and is checked by the
    database's own walk (``audit.chain``): PostgreSQL computes it in one statement, SQLite hands the stored
    texts to Python — split by id range across processes when the chain is long.
    """
    watched = frozenset(watch)
    # Format-3 entries (unchained, ADR 021) come last: the chain ends where the first of them is.
    tree_from = session.scalar(select(AuditEntry.id).where(AuditEntry.hash_format == chain.TREE_FORMAT)
                               .order_by(AuditEntry.id).limit(1))
    count, broken, seen = _walk_chained(session, batch=batch, watched=watched,
                                        high=_NO_END if tree_from is None else int(tree_from))
    if broken is not None or tree_from is None:
        return count, broken, seen
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        total, bad = connection.execute(text(chain.POSTGRES_UNCHAINED), {"first": int(tree_from)}).one()
        if bad is not None:
            position = int(session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.id >= tree_from, AuditEntry.id <= bad)) or 0)
            return count + position, int(bad), seen
        return count + int(total), None, seen
    high = int(session.scalar(select(func.max(AuditEntry.id))) or 0)
    checked, bad = chain.check_unchained_rows(
        connection.exec_driver_sql(chain.SQLITE_ROWS, {"low": int(tree_from) - 1, "high": high}))
    return count + checked, bad, seen


_NO_END = 2**62
"""``high`` of a chain with no unchained entries after it."""


def _walk_chained(session: Session, *, batch: int, watched: frozenset[int], high: int
                  ) -> tuple[int, int | None, dict[int, tuple[int, str]]]:
    """The hash chain (formats 1 and 2): the entries with ids below ``high``."""
    # Format-1 entries come first, so in id order the first other entry is found where they end.
    boundary = session.scalar(select(AuditEntry.id).where(AuditEntry.hash_format != 1)
                              .order_by(AuditEntry.id).limit(1))
    count, broken, seen, prev_hash, last_id = _walk_format1(session, batch=batch, watched=watched, before=boundary)
    if broken is not None:
        return count, broken, seen
    if boundary is not None:
        found = _walk_format2(session, after=last_id if last_id is not None else 0, prev_hash=prev_hash,
                              watched=watched, high=high)
        for entry_id, (position, digest) in found.seen.items():
            seen[entry_id] = (count + position, digest)
        if found.broken is not None:
            return count + found.count, found.broken, seen
        if found.count:
            count += found.count
            prev_hash, last_id = str(found.last_hash), found.last_id
        if found.head is not None:  # read in the walk's own snapshot
            head_count, head_last_id, head_hash = found.head
            if head_hash != prev_hash or head_count != count:
                return count, head_last_id if head_last_id != last_id else last_id, seen
            return count, None, seen
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one_or_none()
    if head is not None and (head.last_hash != prev_hash or head.count != count):
        return count, head.last_id if head.last_id != last_id else last_id, seen
    return count, None, seen


PARALLEL_FROM = 200_000
"""A SQLite chain with at least this many format-2 entries is walked by several processes."""


def _walk_format2(session: Session, *, after: int, prev_hash: str, watched: frozenset[int],
                  high: int = _NO_END) -> chain.Segment:
    """Check the entries after id ``after`` and below ``high``, the first of which must follow ``prev_hash``."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        bind = session.get_bind()
        if isinstance(bind, Engine):
            try:
                return _walk_postgres_overlapped(bind, after, prev_hash, watched, high)
            except DBAPIError:  # no exported snapshot here (e.g. a standby before PostgreSQL 10): one statement
                pass
        return _collect(connection.execute(
            text(chain.POSTGRES_CHECK), {"low": after, "high": high, "prev": prev_hash,
                                         "watched": sorted(watched)}),
            watched, chain.Segment())
    high = min(high - 1, int(session.scalar(select(func.max(AuditEntry.id))) or 0))
    path = connection.engine.url.database
    workers = min(4, os.cpu_count() or 1)
    # The id span stands in for the number of entries (ids are dense: entries are never deleted).
    if workers > 1 and high - after >= PARALLEL_FROM and path and path != ":memory:" and os.path.exists(path):
        return _walk_sqlite_parallel(path, after, high, prev_hash, watched, workers)
    result = connection.exec_driver_sql(chain.SQLITE_ROWS, {"low": after, "high": high})
    return chain.check_rows(result, prev_hash, watched)


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")


def _walk_postgres_overlapped(engine: Engine, after: int, prev_hash: str, watched: frozenset[int],
                              high: int = _NO_END) -> chain.Segment:
    """``POSTGRES_CHECK`` as two statements at once: the hash pass here, the link pass on a second connection
    in a thread, both in one exported snapshot (REPEATABLE READ), which the head is read in too."""
    from concurrent.futures import ThreadPoolExecutor

    repeatable = {"isolation_level": "REPEATABLE READ"}
    with engine.connect() as first, engine.connect() as second:
        first = first.execution_options(**repeatable)
        second = second.execution_options(**repeatable)
        with first.begin():
            snapshot = str(first.scalar(text("SELECT pg_export_snapshot()")))
            if not _SNAPSHOT_ID.fullmatch(snapshot):  # pragma: no cover - PostgreSQL's own format
                raise RuntimeError(f"unexpected snapshot id {snapshot!r}")

            def links() -> list[Any]:
                with second.begin():
                    # SET TRANSACTION SNAPSHOT takes no parameter; the id was checked against its format above.
                    second.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    return list(second.execute(text(chain.POSTGRES_LINKS),
                                               {"low": after, "high": high, "prev": prev_hash,
                                                "watched": sorted(watched)}))

            with ThreadPoolExecutor(1) as pool:
                linked = pool.submit(links)
                total, bad_id = first.execute(text(chain.POSTGRES_HASHES), {"low": after, "high": high}).one()
                rows = linked.result()
            head = first.execute(select(AuditHead.count, AuditHead.last_id, AuditHead.last_hash)
                                 .where(AuditHead.id == HEAD_ID)).one_or_none()
            bad_position = None if bad_id is None else int(first.scalar(
                select(func.count()).select_from(AuditEntry)
                .where(AuditEntry.id > after, AuditEntry.id <= bad_id)) or 0)
    found = _collect(rows, watched, chain.Segment(head=(int(head[0]), head[1], str(head[2])) if head else None),
                     until=bad_id)
    if found.broken is None and bad_id is not None:  # wrongly hashed, and no link broken before it
        found.count, found.broken = int(bad_position or 0), int(bad_id)
    elif found.broken is None and found.count != int(total):  # pragma: no cover - both passes read one snapshot
        raise RuntimeError("the hash and link passes saw different chains")
    return found


def _collect(rows: Iterable[Any], watched: frozenset[int], found: chain.Segment, *,
             until: int | None = None) -> chain.Segment:
    """Fold PostgreSQL's checked rows ``(id, position, hash, ok)``, in id order, into ``found``: the first row
    not ok is the broken entry; watched rows are noted; rows after id ``until`` are not looked at."""
    for entry_id, position, digest, ok in rows:
        if until is not None and entry_id > until:
            break
        if not ok:
            found.count, found.broken = int(position), int(entry_id)
            return found
        if entry_id in watched:
            found.seen[int(entry_id)] = (int(position), str(digest))
        found.count, found.last_id, found.last_hash = int(position), int(entry_id), str(digest)
    return found


def _walk_sqlite_parallel(path: str, after: int, high: int, prev_hash: str, watched: frozenset[int],
                          workers: int) -> chain.Segment:
    """Split ids (after, high] into ranges, walk each in its own process, then join the ranges' links."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    step = max(1, -(-(high - after) // workers))
    bounds = [(low, min(low + step, high)) for low in range(after, high, step)]
    # fork is cheap and safe from a single-threaded process (the CLI); elsewhere start clean interpreters.
    method = "fork" if threading.active_count() == 1 else "spawn"
    with ProcessPoolExecutor(len(bounds), mp_context=multiprocessing.get_context(method)) as pool:
        parts = list(pool.map(chain.check_sqlite_range, [path] * len(bounds), *zip(*bounds, strict=True),
                              [watched] * len(bounds)))
    joined = chain.Segment()
    expected = prev_hash
    for part in parts:
        if not part.count:
            continue
        if part.first_prev != expected:
            joined.count, joined.broken = joined.count + 1, part.first_id
            return joined
        for entry_id, (position, digest) in part.seen.items():
            joined.seen[entry_id] = (joined.count + position, digest)
        joined.count += part.count
        if part.broken is not None:
            joined.broken = part.broken
            return joined
        expected = str(part.last_hash)
        joined.last_id, joined.last_hash = part.last_id, part.last_hash
    return joined


def _walk_format1(session: Session, *, batch: int, watched: frozenset[int], before: int | None
                  ) -> tuple[int, int | None, dict[int, tuple[int, str]], str, int | None]:
    """Walk the format-1 entries (ids below ``before``): (count, first bad id, seen, last hash, last id).

    Entries are streamed as raw columns and hashed in a tight loop. An entry whose raw content does not hash
    to its ``hash`` is re-checked exactly through the ORM before it is called bad, so that the fast path can
    never name an entry that ``entry_content`` would accept.
    """
    prev_hash = GENESIS_HASH
    count = 0
    last_id: int | None = None
    seen: dict[int, tuple[int, str]] = {}
    sha256 = hashlib.sha256
    encode = _CANONICAL.encode
    after: int | None = None
    while True:
        statement = select(*_RAW_COLUMNS).order_by(AuditEntry.id)
        if before is not None:
            statement = statement.where(AuditEntry.id < before)
        if after is not None:
            statement = statement.where(AuditEntry.id > after)
        recheck: int | None = None
        # Core execution on the session's connection (same transaction): rows, not ORM results.
        stream = session.connection().execute(statement.execution_options(yield_per=batch))
        try:
            for (entry_id, entry_prev, digest, at, actor_id, actor_name, actor_role, action, subject_type,
                 subject_id, application_id, department, before_state, after_state, data) in stream:
                count += 1
                if entry_prev != prev_hash:
                    return count, entry_id, seen, prev_hash, last_id
                timestamp = _raw_timestamp(at)
                content = {
                    "at": timestamp, "actor_id": actor_id, "actor_name": actor_name, "actor_role": actor_role,
                    "action": action, "subject_type": subject_type, "subject_id": subject_id,
                    "application_id": application_id, "department": department,
                    "before": _raw_json(before_state), "after": _raw_json(after_state), "data": _raw_json(data),
                }
                if timestamp is None or digest != sha256(
                        encode({"content": content, "prev_hash": entry_prev}).encode("utf-8")).hexdigest():
                    recheck = entry_id
                    break
                prev_hash = digest
                last_id = entry_id
                if entry_id in watched:
                    seen[entry_id] = (count, digest)
        finally:
            stream.close()
        if recheck is None:
            break
        if not _matches_exactly(session, recheck):
            return count, recheck, seen, prev_hash, last_id
        prev_hash = str(session.scalar(select(AuditEntry.hash).where(AuditEntry.id == recheck)))
        last_id = after = recheck
        if recheck in watched:
            seen[recheck] = (count, prev_hash)
    return count, None, seen, prev_hash, last_id


def entries_for(session: Session, application_id: str) -> Sequence[AuditEntry]:
    """The audit entries of one application, oldest first (the case's timeline)."""
    return session.execute(
        select(AuditEntry).where(AuditEntry.application_id == application_id).order_by(AuditEntry.id)
    ).scalars().all()
