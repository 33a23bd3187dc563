"""Hash format 2 of the audit chain (审计链): what is hashed, and the fast walks that check it (ADR 006).

An entry's format-2 hash is SHA-256 over ``prev_hash``, U+001F, and the entry's stored column texts joined by
U+001F — ``at`` as ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, ``actor_id`` in decimal, the text columns as they
are, the JSON columns (``before``, ``after``, ``data``) as their stored JSON text (SQL NULL read as ``null``),
and U+001E for any other NULL. Unlike format 1 (canonical JSON of the parsed content, still verified for the
entries written before migration 0007), nothing is parsed or re-encoded to check it: SQLite hands the texts
out as they are, and PostgreSQL computes the whole check itself (``sha256`` in a parallel scan, ``lag``).

The join is unambiguous because ``append`` refuses U+001E and U+001F in text columns (JSON text escapes them):
a stored entry has exactly eleven separators, and any change that moves text across a field boundary adds a
separator, so changes the hashed text. The one change the hash cannot see is a NULL column replaced by the
one-character text U+001E, which no entry can hold legitimately.

This module imports only the standard library: the SQLite range walk runs in worker processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

FORMAT = 2
TREE_FORMAT = 3
"""Format 3 (ADR 021): the format-2 text hashed with a random salt (stored in ``prev_hash``) instead of the
predecessor's hash — entries are not chained; the Merkle tree and its signed checkpoints order and seal them."""
SEPARATOR = "\x1f"
ABSENT = "\x1e"

_TEXT_COLUMNS = ("actor_name", "actor_role", "action", "subject_type", "subject_id", "application_id",
                 "department")


def stored_json(value: Any) -> str:
    """The text a JSON column stores for ``value``: SQLAlchemy's and psycopg's default serializer."""
    return json.dumps(value)


def entry_text(values: Mapping[str, Any]) -> str:
    """The format-2 text of an entry's column values (as ``audit.service`` writes them)."""
    for name in _TEXT_COLUMNS:
        text = values.get(name)
        if text is not None and (SEPARATOR in text or ABSENT in text):
            raise ValueError(f"audit entry: {name} may not contain the control characters U+001E or U+001F")
    actor_id = values.get("actor_id")
    return SEPARATOR.join((
        values["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        ABSENT if actor_id is None else str(int(actor_id)),
        values["actor_name"], values["actor_role"], values["action"], values["subject_type"], values["subject_id"],
        ABSENT if values.get("application_id") is None else values["application_id"],
        ABSENT if values.get("department") is None else values["department"],
        stored_json(values.get("before")), stored_json(values.get("after")), stored_json(values.get("data")),
    ))


def text_hash(text: str, prev_hash: str) -> str:
    """The format-2 hash of an entry whose text is ``text`` and whose predecessor's hash is ``prev_hash``."""
    return hashlib.sha256(f"{prev_hash}{SEPARATOR}{text}".encode()).hexdigest()


# The format-2 fields as SQLite returns them, in ``entry_text`` order (``at`` is stored as that text already).
SQLITE_ROWS = (
    "SELECT id, prev_hash, hash, hash_format, at, coalesce(CAST(actor_id AS TEXT), char(30)), actor_name, "
    "actor_role, action, subject_type, subject_id, coalesce(application_id, char(30)), "
    "coalesce(department, char(30)), coalesce(CAST(before AS TEXT), 'null'), "
    "coalesce(CAST(after AS TEXT), 'null'), coalesce(CAST(data AS TEXT), 'null') "
    "FROM audit_entries WHERE id > :low AND id <= :high ORDER BY id"
)

# PostgreSQL checks every format-2 entry after :low itself, in one statement (so one snapshot): the hashes in a
# parallel scan (``hashed``: how many entries, the first whose hash or format is wrong), the links and the
# positions in one ordered pass (``lag``, ``row_number``). Only the rows Python needs come back: unlinked ones,
# the first wrongly hashed one, the watched (checkpointed) ones and the last.
POSTGRES_CHECK = """
WITH hashed AS (
    SELECT count(*) AS total,
           min(id) FILTER (WHERE hash_format <> 2 OR hash <> encode(sha256(convert_to(
               prev_hash || chr(31) || concat_ws(chr(31),
                   to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
                   coalesce(actor_id::text, chr(30)), actor_name, actor_role, action, subject_type, subject_id,
                   coalesce(application_id, chr(30)), coalesce(department, chr(30)),
                   coalesce(before::text, 'null'), coalesce(after::text, 'null'), coalesce(data::text, 'null')),
               'UTF8')), 'hex')) AS bad_id
    FROM audit_entries WHERE id > :low AND id < :high
)
SELECT chain.id, chain.n, chain.hash, chain.linked AND chain.id IS DISTINCT FROM hashed.bad_id AS ok
FROM (
    SELECT id, hash, row_number() OVER (ORDER BY id) AS n,
           prev_hash = coalesce(lag(hash) OVER (ORDER BY id), :prev) AS linked
    FROM audit_entries WHERE id > :low AND id < :high
) AS chain, hashed
WHERE NOT chain.linked OR chain.id = hashed.bad_id OR chain.n = hashed.total
   OR chain.id = ANY(CAST(:watched AS integer[]))
ORDER BY chain.id
"""


# The same check as two statements run at once on two connections sharing one exported snapshot: the hash
# pass (a parallel scan) and the link pass (one ordered scan) overlap instead of following each other.
POSTGRES_HASHES = """
SELECT count(*), min(id) FILTER (WHERE hash_format <> 2 OR hash <> encode(sha256(convert_to(
    prev_hash || chr(31) || concat_ws(chr(31),
        to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
        coalesce(actor_id::text, chr(30)), actor_name, actor_role, action, subject_type, subject_id,
        coalesce(application_id, chr(30)), coalesce(department, chr(30)),
        coalesce(before::text, 'null'), coalesce(after::text, 'null'), coalesce(data::text, 'null')),
    'UTF8')), 'hex'))
FROM audit_entries WHERE id > :low AND id < :high
"""
POSTGRES_LINKS = """
SELECT id, n, hash, linked FROM (
    SELECT id, hash, row_number() OVER (ORDER BY id) AS n,
           prev_hash = coalesce(lag(hash) OVER (ORDER BY id), :prev) AS linked
    FROM audit_entries WHERE id > :low AND id < :high
) AS chain
WHERE NOT linked OR id = ANY(CAST(:watched AS integer[]))
   OR id = (SELECT max(id) FROM audit_entries WHERE id > :low AND id < :high)
ORDER BY id
"""


@dataclass
class Segment:
    """What a walk over a run of entries found: how many, the first bad one, and the ends of the run."""

    count: int = 0
    broken: int | None = None
    first_id: int | None = None
    first_prev: str | None = None
    last_id: int | None = None
    last_hash: str | None = None
    seen: dict[int, tuple[int, str]] = field(default_factory=dict)   # watched id → (position in run, hash)
    head: tuple[int, int | None, str] | None = None   # the head (count, last id, hash) in the walk's snapshot


def check_rows(rows: Iterable[tuple[Any, ...]], prev_hash: str | None, watched: Collection[int]) -> Segment:
    """Check ``SQLITE_ROWS`` rows in order. ``prev_hash`` is the hash the first must follow; None: take the
    first row's ``prev_hash`` as given (a range whose link to the one before is checked by the caller)."""
    segment = Segment()
    sha256 = hashlib.sha256
    join = SEPARATOR.join
    count = 0
    expected = prev_hash
    for row in rows:
        entry_id, entry_prev, digest, hash_format = row[0], row[1], row[2], row[3]
        count += 1
        if count == 1:
            segment.first_id, segment.first_prev = entry_id, entry_prev
            if expected is None:
                expected = entry_prev
        try:
            good = (hash_format == FORMAT and entry_prev == expected
                    and sha256(f"{entry_prev}{SEPARATOR}{join(row[4:])}".encode()).hexdigest() == digest)
        except TypeError:  # a column holding something other than text (SQLite is dynamically typed)
            good = False
        if not good:
            segment.count, segment.broken = count, entry_id
            return segment
        expected = digest
        segment.last_id = entry_id
        if entry_id in watched:
            segment.seen[entry_id] = (count, digest)
    segment.count, segment.last_hash = count, expected if count else None
    return segment


def check_sqlite_range(path: str, low: int, high: int, watched: Collection[int], batch: int = 20_000) -> Segment:
    """Walk ids in (low, high] of the SQLite database file at ``path``, read only (a worker process's job)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute(SQLITE_ROWS, {"low": low, "high": high})

        def rows() -> Iterable[tuple[Any, ...]]:
            while chunk := cursor.fetchmany(batch):
                yield from chunk

        return check_rows(rows(), None, frozenset(watched))
    finally:
        connection.close()


# Format 3 (ADR 021): every entry from the first unchained one on is of format 3 and hashes, with its own salt,
# to its ``hash``; (how many, the first that does not) in one statement.
POSTGRES_UNCHAINED = """
SELECT count(*), min(id) FILTER (WHERE hash_format <> 3 OR hash <> encode(sha256(convert_to(
    prev_hash || chr(31) || concat_ws(chr(31),
        to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
        coalesce(actor_id::text, chr(30)), actor_name, actor_role, action, subject_type, subject_id,
        coalesce(application_id, chr(30)), coalesce(department, chr(30)),
        coalesce(before::text, 'null'), coalesce(after::text, 'null'), coalesce(data::text, 'null')),
    'UTF8')), 'hex'))
FROM audit_entries WHERE id >= :first
"""


def check_unchained_rows(rows: Iterable[tuple[Any, ...]]) -> tuple[int, int | None]:
    """(count, first bad id) of ``SQLITE_ROWS`` rows that must each be of format 3 and hash to their ``hash``."""
    sha256 = hashlib.sha256
    join = SEPARATOR.join
    count = 0
    for row in rows:
        count += 1
        try:
            text = f"{row[1]}{SEPARATOR}{join(row[4:])}"
            good = row[3] == TREE_FORMAT and sha256(text.encode()).hexdigest() == row[2]
        except TypeError:
            good = False
        if not good:
            return count, int(row[0])
    return count, None
