"""The audit log as a Merkle tree log (审计日志默克尔树, ADR 021): sequencer, signed checkpoints, proofs, witness.

Entries are written by the contexts as before (``audit.service.append``). The **sequencer** — one at a time:
``pg_try_advisory_xact_lock`` on PostgreSQL; on SQLite, which serialises writers, a process-wide lock and a
write to ``audit_tree_state`` before anything is read — takes the entries not yet in the tree, in id order,
gives each the next leaf index, stores the new complete subtree hashes (``audit_tree_nodes``: level, index)
and, when the tree grew, signs a checkpoint (C2SP signed note, Ed25519). It runs every
``audit_sequence_interval`` seconds in ``onething serve`` (thread) or ``onething audit sequence``.

A proof reads O(log n) stored nodes: every range RFC 9162 visits splits into complete aligned subtrees.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Select, and_, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from onething.accounts.errors import NotFound
from onething.accounts.model import Actor
from onething.accounts.permissions import can
from onething.audit import merkle
from onething.audit.tables import AuditEntry, AuditLeaf, AuditNode, AuditTreeState, SignedCheckpoint

log = logging.getLogger(__name__)

STATE_ID = 1  # the one audit_tree_state row
ADVISORY_KEY = 0x6F6E_6574_6D6B  # "onetmk": the sequencer's PostgreSQL advisory lock
LOOKBACK_IDS = 10_000
"""Entries are looked for from this many ids below the last integrated one: an entry whose transaction commits
after a later-numbered one is still found (ids are taken before commit)."""


def leaf_text(entry_id: int, action: str, entry_hash: str) -> str:
    """The text a leaf hashes: the entry's id, its action and its content hash (which covers all the rest)."""
    return f"onething-audit-entry\nid {entry_id}\naction {action}\nhash {entry_hash}\n"


# --- the log key -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return merkle.key_id(self.name, self.public_bytes)

    def public_key(self) -> Ed25519PublicKey:
        return self.private.public_key()


def log_key() -> LogKey:
    """The log's Ed25519 key: ONETHING_AUDIT_LOG_KEY (base64 of a 32-byte seed), else derived (HKDF-SHA256)
    from ONETHING_SECRET_KEY; named ``settings.audit_log_origin``."""
    from onething.config import get_settings

    settings = get_settings()
    if settings.audit_log_key:
        seed = base64.b64decode(settings.audit_log_key)
    else:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"onething audit log key v1").derive(
            settings.resolved_secret_key().encode("utf-8"))
    return LogKey(settings.audit_log_origin, Ed25519PrivateKey.from_private_bytes(seed))


def vkey(key: LogKey) -> str:
    """The verifier key in C2SP note form: ``<name>+<hex key id>+<base64(0x01 ‖ public key)>``."""
    encoded = base64.b64encode(b"\x01" + key.public_bytes).decode("ascii")
    return f"{key.name}+{key.key_id.hex()}+{encoded}"


# --- reading the tree ------------------------------------------------------------------------------------------

def _state(connection: Connection) -> tuple[int, int]:
    row = connection.execute(select(AuditTreeState.size, AuditTreeState.max_entry_id)
                             .where(AuditTreeState.id == STATE_ID)).one_or_none()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def tree_size(session: Session) -> int:
    return _state(session.connection())[0]


def _nodes(connection: Connection, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    if not keys:
        return {}
    found = {(int(level), int(index)): bytes.fromhex(digest) for level, index, digest in connection.execute(
        select(AuditNode.level, AuditNode.index, AuditNode.hash)
        # OR of primary-key equalities, not a row-value IN: both databases answer it with index look-ups.
        .where(or_(*(and_(AuditNode.level == level, AuditNode.index == index) for level, index in keys))))}
    missing = [k for k in keys if k not in found]
    if missing:
        raise LookupError(f"audit tree nodes missing: {missing[:5]}")
    return found


def subtree_reader(connection: Connection) -> merkle.Subtree:
    def subtree(start: int, end: int) -> bytes:
        pieces = merkle.aligned_pieces(start, end)
        nodes = _nodes(connection, pieces)
        return merkle.root_of([nodes[p] for p in pieces])
    return subtree


def _prefetched(connection: Connection, walk: Callable[[merkle.Subtree], list[bytes]]) -> list[bytes]:
    """Run a proof ``walk`` twice: once to learn which stored nodes it needs (the ranges depend only on the
    sizes), then on those nodes read in one query — a proof costs one O(log n)-row read, not one per level."""
    wanted: list[tuple[int, int]] = []

    def record(start: int, end: int) -> bytes:
        wanted.extend(merkle.aligned_pieces(start, end))
        return b""

    walk(record)
    nodes = _nodes(connection, sorted(set(wanted)))

    def cached(start: int, end: int) -> bytes:
        return merkle.root_of([nodes[p] for p in merkle.aligned_pieces(start, end)])

    return walk(cached)


def root_at(session: Session, size: int) -> bytes:
    return subtree_reader(session.connection())(0, size) if size else merkle.EMPTY_ROOT


@dataclass(frozen=True)
class Inclusion:
    entry_id: int
    leaf_index: int
    tree_size: int
    leaf: str
    leaf_hash: str
    hashes: list[str]


def leaf_of(session: Session, entry_id: int) -> tuple[int, str] | None:
    """(leaf index, leaf text) of an integrated entry; None when it is not (yet) in the tree."""
    row = session.execute(select(AuditLeaf.leaf_index, AuditEntry.action, AuditEntry.hash)
                          .join(AuditEntry, AuditEntry.id == AuditLeaf.entry_id)
                          .where(AuditLeaf.entry_id == entry_id)).one_or_none()
    if row is None:
        return None
    return int(row[0]), leaf_text(entry_id, str(row[1]), str(row[2]))


def inclusion_proof(session: Session, entry_id: int, size: int | None = None) -> Inclusion | None:
    """The entry's inclusion proof in the tree of ``size`` leaves (default: the latest checkpoint's); None when
    the entry is not in that tree."""
    if size is None:
        latest = latest_checkpoint(session)
        size = latest.tree_size if latest is not None else 0
    found = leaf_of(session, entry_id)
    if found is None or size > tree_size(session) or found[0] >= size:
        return None
    index, leaf = found
    path = _prefetched(session.connection(), lambda subtree: merkle.inclusion_path(index, size, subtree))
    return Inclusion(entry_id, index, size, leaf, merkle.leaf_hash(leaf.encode("utf-8")).hex(),
                     [h.hex() for h in path])


def proof_for(session: Session, actor: Actor, entry_id: int, size: int | None = None) -> Inclusion:
    """The inclusion proof an actor may have: auditors any entry's; anyone else only an entry about their own
    data (谁用了我的数据: subject ``user:<their id>``). NotFound — the same for absent, not yet integrated and
    not theirs — otherwise."""
    if not can(actor, "audit:read"):
        mine = session.scalar(select(AuditEntry.id).where(
            AuditEntry.id == entry_id, AuditEntry.subject_type == "data_subject",
            AuditEntry.subject_id == f"user:{actor.user_id}"))
        if mine is None or actor.user_id is None:
            raise NotFound("audit entry", entry_id)
    proof = inclusion_proof(session, entry_id, size)
    if proof is None:
        raise NotFound("audit entry", entry_id)
    return proof


def consistency_proof(session: Session, first: int, second: int) -> list[str]:
    """PROOF(first, D[second]); ValueError when the sizes are not 0 ≤ first ≤ second ≤ the tree's size."""
    if not 0 <= first <= second <= tree_size(session):
        raise ValueError(f"no consistency proof from {first} to {second}")
    path = _prefetched(session.connection(), lambda subtree: merkle.consistency_path(first, second, subtree))
    return [h.hex() for h in path]


def latest_checkpoint(session: Session) -> SignedCheckpoint | None:
    return session.scalar(select(SignedCheckpoint).order_by(SignedCheckpoint.tree_size.desc()).limit(1))


def checkpoint_json(checkpoint: SignedCheckpoint) -> dict[str, Any]:
    return {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash,
            "signature": checkpoint.signature, "key_id": checkpoint.key_id, "note": checkpoint.note}


# --- the sequencer ---------------------------------------------------------------------------------------------

_LOCAL = threading.Lock()  # SQLite: one sequencer per process (SQLite serialises writers across processes)


@contextmanager
def _elected(connection: Connection) -> Iterator[bool]:
    """Whether this transaction is the sequencer: PostgreSQL advisory lock (released at commit/rollback)."""
    if connection.dialect.name == "postgresql":
        yield bool(connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY}))
        return
    if not _LOCAL.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        _LOCAL.release()


def _new_entries(max_entry_id: int, batch: int) -> Select[int, str, str]:
    """The entries not yet in the tree, oldest first, from ``LOOKBACK_IDS`` below the last integrated id."""
    low = max(0, max_entry_id - LOOKBACK_IDS)
    integrated = select(AuditLeaf.entry_id).where(AuditLeaf.entry_id > low)
    return (select(AuditEntry.id, AuditEntry.action, AuditEntry.hash)
            .where(AuditEntry.id > low, AuditEntry.id.not_in(integrated)).order_by(AuditEntry.id).limit(batch))


def has_new_entries(session: Session) -> bool:
    """Whether a sequencer round would find anything (a read: idle rounds take no lock and write nothing)."""
    connection = session.connection()
    return connection.execute(_new_entries(_state(connection)[1], 1)).first() is not None


@dataclass(frozen=True)
class Integration:
    elected: bool
    integrated: int
    tree_size: int
    checkpoint: SignedCheckpoint | None


def integrate(session: Session, now: datetime, *, batch: int = 10_000, key: LogKey | None = None) -> Integration:
    """One sequencer round in the caller's transaction: integrate up to ``batch`` new entries and, when the
    tree grew, sign a checkpoint. Returns what it did; ``elected`` False when another sequencer holds the lock."""
    connection = session.connection()
    with _elected(connection) as elected:
        if not elected:
            return Integration(False, 0, 0, None)
        if connection.dialect.name == "sqlite":  # take SQLite's write lock before reading anything
            connection.execute(update(AuditTreeState).where(AuditTreeState.id == STATE_ID)
                               .values(size=AuditTreeState.size))
        size, max_entry_id = _state(connection)
        if connection.execute(select(AuditTreeState.id).where(AuditTreeState.id == STATE_ID)).first() is None:
            connection.execute(insert(AuditTreeState).values(id=STATE_ID, size=0, max_entry_id=0))
        rows = connection.execute(_new_entries(max_entry_id, batch)).all()
        if not rows:
            return Integration(True, 0, size, None)
        frontier_keys = merkle.aligned_pieces(0, size)
        stored = _nodes(connection, frontier_keys)
        frontier = [(level, stored[(level, index)]) for level, index in frontier_keys]
        leaves: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        for entry_id, action, entry_hash in rows:
            index = size + len(leaves)
            leaves.append({"leaf_index": index, "entry_id": int(entry_id)})
            digest = merkle.leaf_hash(leaf_text(int(entry_id), str(action), str(entry_hash)).encode("utf-8"))
            level = 0
            nodes.append({"level": 0, "index": index, "hash": digest.hex()})
            # Merge with the frontier's equal-sized left neighbours (a binary counter's carries).
            while frontier and frontier[-1][0] == level:
                _, left = frontier.pop()
                digest = merkle.node_hash(left, digest)
                level += 1
                index //= 2
                nodes.append({"level": level, "index": index, "hash": digest.hex()})
            frontier.append((level, digest))
        session.execute(insert(AuditLeaf), leaves)
        session.execute(insert(AuditNode), nodes)
        size += len(leaves)
        connection.execute(update(AuditTreeState).where(AuditTreeState.id == STATE_ID).values(
            size=size, max_entry_id=max(max_entry_id, max(int(r[0]) for r in rows))))
        root = merkle.root_of([h for _, h in frontier])
        checkpoint = _sign(session, size, root, now, key or log_key())
        return Integration(True, len(leaves), size, checkpoint)


def _sign(session: Session, size: int, root: bytes, now: datetime, key: LogKey) -> SignedCheckpoint:
    body = merkle.checkpoint_body(key.name, size, root)
    signature = key.private.sign(body.encode("utf-8"))
    row = SignedCheckpoint(tree_size=size, root_hash=root.hex(), key_id=key.key_id.hex(),
                           signature=base64.b64encode(signature).decode("ascii"),
                           note=merkle.signed_note(body, key.name, key.key_id, signature), at=now)
    session.add(row)
    session.flush()
    return row


def publish(checkpoint: SignedCheckpoint, path: Path) -> None:
    """Append a checkpoint's note to the witness file (one note after another, each ending with a blank line)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(checkpoint.note + "\n")


def witness_notes(content: str) -> list[str]:
    """The notes of a witness file, in order. Notes follow each other separated by a blank line, and a blank
    line also separates a note's text from its signature lines (those start with "— "): a block of signature
    lines belongs to the text block before it."""
    notes: list[tuple[str, list[str]]] = []
    for block in content.split("\n\n"):
        block = block.strip("\n")
        if not block:
            continue
        if block.startswith("\u2014 ") and notes:
            notes[-1][1].append(block)
        else:
            notes.append((block, []))
    return [f"{body}\n\n" + "".join(f"{signature}\n" for signature in signatures)
            for body, signatures in notes]


@dataclass(frozen=True)
class WitnessReport:
    checked: int
    problem: str | None


def check_witness(session: Session, content: str, key: LogKey | None = None) -> WitnessReport:
    """Check a mirrored witness file: each note's signature, sizes never shrinking, each root matching this
    log's tree at that size, and a consistency proof between successive ones verified. A root the log cannot
    prove consistent is a fork (分叉)."""
    key = key or log_key()
    public = key.public_key()
    previous: tuple[int, bytes] | None = None
    notes = witness_notes(content)
    for number, note in enumerate(notes, start=1):
        try:
            origin, size, root, signatures = merkle.parse_note(note)
        except ValueError as exc:
            return WitnessReport(number - 1, f"note {number}: malformed ({exc})")
        mine = [s for s in signatures if s[0] == key.name and s[1] == key.key_id]
        if origin != key.name or not mine:
            return WitnessReport(number - 1, f"note {number}: not signed by {key.name}")
        try:
            public.verify(mine[0][2], merkle.note_body(note).encode("utf-8"))
        except Exception:
            return WitnessReport(number - 1, f"note {number}: bad signature")
        if size > tree_size(session):
            return WitnessReport(number - 1, f"note {number}: tree size {size} is larger than the log's")
        if root_at(session, size) != root:
            return WitnessReport(number - 1, f"fork: note {number} (size {size}) has a root the log does not")
        if previous is not None:
            first, first_root = previous
            if size < first:
                return WitnessReport(number - 1, f"note {number}: tree size went back from {first} to {size}")
            proof = [bytes.fromhex(h) for h in consistency_proof(session, first, size)]
            if not verify_consistency(first, size, first_root, root, proof):
                return WitnessReport(number - 1, f"fork: notes {number - 1} and {number} are not consistent")
        previous = (size, root)
    return WitnessReport(len(notes), None)


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (the witness's own check of what the log hands it)."""
    if first == second:
        return first_root == second_root and not proof
    if first == 0:
        return not proof
    if first > second:
        return False
    if first & (first - 1) == 0:  # a power of two: the first root is the first node of the proof
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = merkle.node_hash(c, fr)
            sr = merkle.node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = merkle.node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


@dataclass(frozen=True)
class TreeProblem:
    entry_id: int | None
    message: str


def check_tree(session: Session) -> TreeProblem | None:
    """The tree against the entries and the latest checkpoint: every leaf recomputed from its entry, every
    stored node from its children, the root against the signed checkpoint. None when all hold; else the
    problem, naming the first entry that no longer matches where there is one."""
    size = tree_size(session)
    latest = latest_checkpoint(session)
    if latest is None:
        return None if size == 0 else TreeProblem(None, "the tree has leaves but no checkpoint")
    key = log_key()
    try:
        key.public_key().verify(base64.b64decode(latest.signature),
                                merkle.note_body(latest.note).encode("utf-8"))
    except Exception:
        return TreeProblem(None, f"checkpoint {latest.tree_size}: bad signature")
    levels: dict[int, list[bytes]] = {0: []}
    rows = session.execute(select(AuditLeaf.leaf_index, AuditLeaf.entry_id, AuditEntry.action, AuditEntry.hash,
                                  AuditNode.hash)
                           .join(AuditEntry, AuditEntry.id == AuditLeaf.entry_id, isouter=True)
                           .join(AuditNode, (AuditNode.level == 0) & (AuditNode.index == AuditLeaf.leaf_index),
                                 isouter=True)
                           .where(AuditLeaf.leaf_index < latest.tree_size).order_by(AuditLeaf.leaf_index))
    for expected, (index, entry_id, action, entry_hash, stored_leaf) in enumerate(rows):
        if index != expected:
            return TreeProblem(None, f"leaf {expected} is missing")
        if action is None:
            return TreeProblem(int(entry_id), f"entry {entry_id} (leaf {index}) is gone")
        digest = merkle.leaf_hash(leaf_text(int(entry_id), str(action), str(entry_hash)).encode())
        if stored_leaf != digest.hex():
            return TreeProblem(int(entry_id), f"entry {entry_id} (leaf {index}) no longer matches the tree")
        levels[0].append(digest)
    if len(levels[0]) != latest.tree_size:
        return TreeProblem(None, f"the tree has {len(levels[0])} leaves, checkpoint {latest.tree_size} names more")
    pieces: list[bytes] = []
    for piece_level, piece_index in merkle.aligned_pieces(0, latest.tree_size):
        start = piece_index << piece_level
        nodes = levels[0][start:start + (1 << piece_level)]
        while len(nodes) > 1:
            nodes = [merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        pieces.append(nodes[0])
    if merkle.root_of(pieces).hex() != latest.root_hash:
        return TreeProblem(None, f"the entries no longer hash to checkpoint {latest.tree_size}'s root")
    stored = root_at(session, latest.tree_size)
    if stored.hex() != latest.root_hash:
        return TreeProblem(None, f"the stored tree nodes do not give checkpoint {latest.tree_size}'s root")
    return None


# --- running it ------------------------------------------------------------------------------------------------

class Sequencer:
    """Integrates and signs every ``interval`` seconds until stopped; appends each checkpoint to the witness file."""

    def __init__(self, engine: Engine, *, interval: float = 0.5, witness_file: Path | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.interval = interval
        self.witness_file = witness_file
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()

    def run_once(self) -> Integration:
        with Session(self.engine) as session, session.begin():
            if not has_new_entries(session):
                return Integration(True, 0, tree_size(session), None)
        with Session(self.engine) as session, session.begin():
            result = integrate(session, self.clock())
            note = result.checkpoint
            if note is not None:
                session.expunge(note)
        if note is not None and self.witness_file is not None:
            publish(note, self.witness_file)
        return result

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a failed round is retried next interval; the log says why
                log.exception("audit sequencer round failed")
            self._stop.wait(self.interval)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="audit-sequencer", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()



@asynccontextmanager
async def sequencer_lifespan(engine: Engine) -> AsyncIterator[None]:
    """Run the sequencer as a thread beside the app while ``settings.inprocess_sequencer`` says so."""
    import asyncio

    from onething.config import get_settings

    settings = get_settings()
    if not settings.inprocess_sequencer:
        yield
        return
    sequencer = Sequencer(engine, interval=settings.audit_sequence_interval,
                          witness_file=settings.audit_witness_file)
    thread = sequencer.start_thread()
    try:
        yield
    finally:
        sequencer.stop()
        await asyncio.to_thread(thread.join, 5)
