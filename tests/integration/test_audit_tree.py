"""The audit Merkle tree (ADR 021) checked against an independent RFC 9162 verifier written in this file.

``_verify_inclusion`` and ``_verify_consistency`` follow the algorithm text of RFC 9162 §2.1.3.2 and §2.1.4.2
step by step; ``_mth`` is §2.1.1's definition. None of them calls ``onething.audit``. Proofs come from the
stored tree on SQLite and PostgreSQL, for every tree size 1..70 the sequencer published.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.audit import service as audit
from onething.audit import tree
from onething.audit.tables import AuditLeaf, SignedCheckpoint

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
N = 70


# --- independent RFC 9162 ------------------------------------------------------------------------------------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """§2.1.1: MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 || d0); else split at the largest k < n (power of 2)."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _verify_inclusion(leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    """§2.1.3.2, as written."""
    if leaf_index >= tree_size:                                  # 1
        return False
    fn, sn = leaf_index, tree_size - 1                           # 2
    r = leaf_hash                                                # 3
    for p in path:                                               # 4
        if sn == 0:                                              # 4a
            return False
        if fn % 2 == 1 or fn == sn:                              # 4b
            r = _h(b"\x01" + p + r)                              # 4b.i
            if fn % 2 == 0:                                      # 4b.ii
                while not (fn % 2 == 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _h(b"\x01" + r + p)                              # 4b otherwise
        fn >>= 1                                                 # 4c
        sn >>= 1
    return sn == 0 and r == root                                 # 5


def _verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                        path: list[bytes]) -> bool:
    """§2.1.4.2, as written (for 0 < first < second)."""
    if not path:                                                 # 1
        return False
    if first & (first - 1) == 0:                                 # 2: first is an exact power of 2
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1                               # 3
    if fn % 2 == 1:                                              # 4
        while fn % 2 == 1:
            fn >>= 1
            sn >>= 1
    fr = sr = path[0]                                            # 5
    for c in path[1:]:                                           # 6
        if sn == 0:                                              # 6a
            return False
        if fn % 2 == 1 or fn == sn:                              # 6b
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1                                                 # 6c
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0    # 7


# --- the tree, built through the services ------------------------------------------------------------------------

def _grow(engine: Engine, count: int) -> list[int]:
    """Append ``count`` entries, one sequencer round after each: a checkpoint at every size 1..count."""
    with db.session_scope(engine) as session:
        create_user(session, name="tree-staff", role="staff", department="mps", now=NOW)
    ids: list[int] = []
    for n in range(count):
        with db.session_scope(engine) as session:
            actor = actor_for_user(session, "tree-staff")
            ids.append(audit.append(session, actor, "test.tree", "thing", n, now=NOW + timedelta(seconds=n),
                                    data={"n": n}).id)
        with db.session_scope(engine) as session:
            done = tree.integrate(session, NOW + timedelta(seconds=n))
            assert done.elected and done.integrated >= 1
    return ids


def _texts(session: Session) -> list[bytes]:
    leaves: list[bytes] = []
    for (entry_id,) in session.execute(select(AuditLeaf.entry_id).order_by(AuditLeaf.leaf_index)):
        found = tree.leaf_of(session, int(entry_id))
        assert found is not None
        leaves.append(found[1].encode("utf-8"))
    return leaves


def test_proofs_for_every_size_verify_independently(database_url: str) -> None:
    engine = db.make_engine(database_url)
    ids = _grow(engine, N)
    with db.session_scope(engine) as session:
        leaves = _texts(session)
        assert len(leaves) >= N  # the fixture's user creation may itself be audited
        offset = len(leaves) - N
        checkpoints = {c.tree_size: c for c in session.scalars(select(SignedCheckpoint))}
        key = tree.log_key()
        public = Ed25519PublicKey.from_public_bytes(key.public_bytes)
        roots = {}
        for size in range(offset + 1, len(leaves) + 1):
            checkpoint = checkpoints[size]
            root = _mth(leaves[:size])
            assert checkpoint.root_hash == root.hex()
            roots[size] = root
            # the note: origin, size, base64 root, blank line, "— name base64(key id || signature)"
            body, _, signature_line = checkpoint.note.partition("\n\n")
            assert body.split("\n") == [key.name, str(size), base64.b64encode(root).decode()]
            dash, name, blob = signature_line.strip("\n").split(" ")
            raw = base64.b64decode(blob)
            assert (dash, name) == ("\u2014", key.name)
            assert raw[:4] == hashlib.sha256(key.name.encode() + b"\n\x01" + key.public_bytes).digest()[:4]
            public.verify(raw[4:], (body + "\n").encode())
        for size in roots:
            for position, entry_id in enumerate(ids):
                index = offset + position
                proof = tree.inclusion_proof(session, entry_id, size)
                if index >= size:
                    assert proof is None
                    continue
                assert proof is not None and proof.leaf_index == index
                assert f"id {entry_id}\n" in proof.leaf and "action test.tree" in proof.leaf
                leaf_hash = _h(b"\x00" + proof.leaf.encode())
                assert proof.leaf_hash == leaf_hash.hex()
                path = [bytes.fromhex(h) for h in proof.hashes]
                assert _verify_inclusion(index, size, leaf_hash, path, roots[size]), (index, size)
                # a proof for another leaf or a wrong root does not verify
                assert not _verify_inclusion(index, size, _h(b"\x00x"), path, roots[size])
        for first in roots:
            for second in roots:
                if first >= second:
                    continue
                path = [bytes.fromhex(h) for h in tree.consistency_proof(session, first, second)]
                assert _verify_consistency(first, second, roots[first], roots[second], path), (first, second)
                assert tree.verify_consistency(first, second, roots[first], roots[second],
                                               [bytes.fromhex(h) for h in
                                                tree.consistency_proof(session, first, second)])
                if first > 1:
                    assert not _verify_consistency(first, second, roots[first - 1], roots[second], path)
        assert tree.check_tree(session) is None


def test_two_sequencers_racing_on_postgresql(postgres_database: str) -> None:
    engine = db.make_engine(postgres_database)
    with db.session_scope(engine) as session:
        create_user(session, name="race-staff", role="staff", department="mps", now=NOW)
        actor = actor_for_user(session, "race-staff")
        for n in range(300):
            audit.append(session, actor, "test.race", "thing", n, now=NOW)
    results: list[tree.Integration] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        with Session(engine) as session, session.begin():
            barrier.wait()
            results.append(tree.integrate(session, NOW, batch=1000))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Both ran; at most one was elected while the other held the lock, and nothing was integrated twice.
    with db.session_scope(engine) as session:
        total = int(session.scalar(select(func.count()).select_from(AuditLeaf)) or 0)
        distinct = int(session.scalar(select(func.count(func.distinct(AuditLeaf.entry_id)))) or 0)
        top = int(session.scalar(select(func.max(AuditLeaf.leaf_index))) or 0)
        entries = int(session.scalar(select(func.count()).select_from(audit.AuditEntry)) or 0)
    assert sum(r.integrated for r in results) == total == distinct == entries == top + 1
    assert sorted(r.elected for r in results) in ([False, True], [True, True])
    if all(r.elected for r in results):  # the second ran after the first committed: it found nothing new
        assert sorted(r.integrated for r in results)[0] == 0


def test_sequencer_checkpoints_within_a_second_of_an_entry(database_url: str, tmp_path: object) -> None:
    """With an injected clock: the round after an append publishes a checkpoint whose time is within the
    interval (< 1 s) of the entry's, and appends its note to the witness file; witness check passes."""
    from pathlib import Path

    engine = db.make_engine(database_url)
    witness = Path(str(tmp_path)) / "witness.txt"
    clock = [NOW]
    sequencer = tree.Sequencer(engine, interval=0.5, witness_file=witness, clock=lambda: clock[0])
    with db.session_scope(engine) as session:
        create_user(session, name="clock-staff", role="staff", department="mps", now=NOW)
    sequencer.run_once()
    with db.session_scope(engine) as session:
        actor = actor_for_user(session, "clock-staff")
        entry = audit.append(session, actor, "test.clock", "thing", 1, now=NOW + timedelta(milliseconds=200))
        entry_id, at = entry.id, entry.at
    clock[0] = NOW + timedelta(milliseconds=500)  # the next round, one interval after the last
    done = sequencer.run_once()
    assert done.checkpoint is not None
    assert timedelta(0) <= done.checkpoint.at - at < timedelta(seconds=1)
    with db.session_scope(engine) as session:
        assert tree.inclusion_proof(session, entry_id) is not None
        report = tree.check_witness(session, witness.read_text("utf-8"))
        assert report.problem is None and report.checked >= 1
        # a forked note (same size, other root) is reported
        forged = tree.checkpoint_json(tree.latest_checkpoint(session))["note"]  # type: ignore[arg-type]
        lines = forged.split("\n")
        lines[2] = base64.b64encode(b"\x00" * 32).decode()
        bad = tree.check_witness(session, witness.read_text("utf-8") + "\n".join(lines) + "\n")
        assert bad.problem is not None


def test_sequence_and_witness_commands(tmp_path: Path) -> None:
    """`onething audit sequence --once` publishes to ONETHING_AUDIT_WITNESS_FILE; `onething audit witness` checks a
    mirror of it (exit 0), and reports a fork when a note with another root for a size is added (exit 1)."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'witness.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    witness = tmp_path / "witness.txt"
    env = {**os.environ, "ONETHING_DATABASE_URL": url, "ONETHING_AUDIT_WITNESS_FILE": str(witness)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "onething", "audit", *args], capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    with db.session_scope(engine) as session:
        create_user(session, name="witness-staff", role="staff", department="mps", now=NOW)
    for n in range(3):
        with db.session_scope(engine) as session:
            audit.append(session, actor_for_user(session, "witness-staff"), "test.witness", "thing", n, now=NOW)
        assert run("sequence", "--once").returncode == 0
    mirror = tmp_path / "mirror.txt"
    mirror.write_text(witness.read_text("utf-8"), "utf-8")
    good = run("witness", "--file", str(mirror))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "3 checkpoint(s)" in good.stdout
    # A fork: a note for size 2 with another root, validly signed by the log's key (a log that showed two
    # histories). Written by hand from the note format, not by the module.
    key = tree.log_key()
    body = f"{key.name}\n2\n{base64.b64encode(hashlib.sha256(b'another history').digest()).decode()}\n"
    blob = base64.b64encode(key.key_id + key.private.sign(body.encode())).decode()
    mirror.write_text(mirror.read_text("utf-8") + f"{body}\n\u2014 {key.name} {blob}\n\n", "utf-8")
    forked = run("witness", "--file", str(mirror))
    assert forked.returncode == 1 and "fork" in forked.stderr, forked.stdout + forked.stderr
    # A note whose signature does not verify (one more root bit set, same signature) is reported.
    notes = tree.witness_notes(witness.read_text("utf-8"))
    _, _, root, _ = tree.merkle.parse_note(notes[-1])
    other = base64.b64encode(bytes([root[0] ^ 1]) + root[1:]).decode()
    mirror.write_text(notes[-1].replace(base64.b64encode(root).decode(), other) + "\n", "utf-8")
    bad = run("witness", "--file", str(mirror))
    assert bad.returncode == 1 and "bad signature" in bad.stderr, bad.stdout + bad.stderr
    engine.dispose()
