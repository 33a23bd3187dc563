"""The Merkle tree log's API over real HTTP on SQLite and PostgreSQL (ADR 021): the latest checkpoint, a
citizen's proof for a use of their own data (404 for another person's), an auditor's proof for any entry, and
consistency proofs. The proof is checked with scripts/verify-audit-proof.py, as a citizen would."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.accounts.tables import User
from onething.audit import service as audit
from onething.audit import tree
from tests.case_forms import PASSWORD, resident_id, sign_in
from tests.live import LiveServer

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify-audit-proof.py"


def _seed(server: LiveServer) -> tuple[int, int]:
    """Two citizens, one data use about each (as the exchange writes them), integrated and checkpointed."""
    engine = server.engine
    assert engine is not None
    entries = []
    with db.session_scope(engine) as session:
        for name, body in (("citizen-a", "11010519491231002"), ("citizen-b", "11010519500101003")):
            create_user(session, name=name, role="applicant", id_number=resident_id(body), password=PASSWORD,
                        now=NOW)
        create_user(session, name="tree-auditor", role="auditor", password=PASSWORD, now=NOW)
        create_user(session, name="fetch-staff", role="staff", department="mps", now=NOW)
    with db.session_scope(engine) as session:
        staff = actor_for_user(session, "fetch-staff")
        for name in ("citizen-a", "citizen-b"):
            user_id = session.scalar(select(User.id).where(User.name == name))
            entries.append(audit.append(session, staff, "exchange.fetch.served", "data_subject", f"user:{user_id}",
                                        now=NOW, department="mps", data={"resource": "test"}).id)
    with db.session_scope(engine) as session:
        assert tree.integrate(session, NOW).integrated >= 2
    return entries[0], entries[1]


def test_citizen_proof_auditor_proof_and_consistency(live_server: LiveServer, tmp_path: Path) -> None:
    mine, theirs = _seed(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        latest = client.get("/api/v1/audit/checkpoints/latest")
        assert latest.status_code == 200
        checkpoint = latest.json()
        assert set(checkpoint) == {"tree_size", "root_hash", "signature", "key_id", "note"}
        assert client.get(f"/api/v1/audit/entries/{mine}/proof").status_code == 401
        sign_in(client, "citizen-a")
        own = client.get(f"/api/v1/audit/entries/{mine}/proof")
        assert own.status_code == 200, own.text
        proof = own.json()
        assert f"id {mine}\n" in proof["leaf"] and "exchange.fetch.served" in proof["leaf"]
        other = client.get(f"/api/v1/audit/entries/{theirs}/proof")
        assert other.status_code == 404
        assert other.headers["content-type"].startswith("application/problem+json")
        assert client.get("/api/v1/audit/entries/999999/proof").status_code == 404
        bad = client.get(f"/api/v1/audit/entries/{mine}/proof", params={"tree_size": "x"})
        assert bad.status_code in (400, 422)
    # The citizen's download, checked by the shipped script with the log's public key.
    (tmp_path / "proof.json").write_text(json.dumps(proof), "utf-8")
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint), "utf-8")
    key = tree.log_key()
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        published = client.get("/api/v1/audit/log-key").json()
    assert published["vkey"] == tree.vkey(key) and published["key_id"] == checkpoint["key_id"]
    ok = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "proof.json"), str(tmp_path / "checkpoint.json"),
                         "--vkey", tree.vkey(key)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    proof["leaf"] = proof["leaf"].replace("served", "refused")
    (tmp_path / "proof.json").write_text(json.dumps(proof), "utf-8")
    tampered = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "proof.json"),
                               str(tmp_path / "checkpoint.json"), "--vkey", tree.vkey(key)],
                              capture_output=True, text=True, check=False)
    assert tampered.returncode == 1
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        sign_in(client, "tree-auditor")
        assert client.get(f"/api/v1/audit/entries/{theirs}/proof").status_code == 200
        size = checkpoint["tree_size"]
        same = client.get("/api/v1/audit/consistency", params={"first": 1, "second": size})
        assert same.status_code == 200 and isinstance(same.json()["hashes"], list)
        assert client.get("/api/v1/audit/consistency", params={"first": 2, "second": size + 5}).status_code == 404
