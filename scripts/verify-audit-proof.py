#!/usr/bin/env python3
"""Check an onething audit proof (证明) offline: the entry is in the log the signed checkpoint commits to.

    python3 verify-audit-proof.py proof.json checkpoint.json [--vkey NAME+KEYID+BASE64KEY]

proof.json is GET /api/v1/audit/entries/{id}/proof; checkpoint.json is GET /api/v1/audit/checkpoints/latest
(or the checkpoint of the proof's tree size). With --vkey (the log's published verifier key) the checkpoint's
Ed25519 signature is checked too. Needs only the standard library and `cryptography`. Exit 0: verified.
RFC 9162 §2.1.3.2 (inclusion); C2SP signed-note (the checkpoint).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes | None:
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def check_signature(note: str, vkey: str) -> str | None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    name, key_id, encoded = vkey.split("+")
    raw = base64.b64decode(encoded)
    if raw[:1] != b"\x01":
        return "the verifier key is not an Ed25519 key"
    public = raw[1:]
    if hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex() != key_id:
        return "the verifier key's id does not match its key"
    body, _, signatures = note.partition("\n\n")
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            blob = base64.b64decode(parts[2])
            if blob[:4].hex() != key_id:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], (body + "\n").encode("utf-8"))
            except InvalidSignature:
                return "the checkpoint's signature is wrong"
            return None
    return f"the checkpoint is not signed by {name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("proof")
    parser.add_argument("checkpoint")
    parser.add_argument("--vkey", help="the log's verifier key (NAME+KEYID+BASE64), to check the signature")
    args = parser.parse_args()
    with open(args.proof, encoding="utf-8") as handle:
        proof = json.load(handle)
    with open(args.checkpoint, encoding="utf-8") as handle:
        checkpoint = json.load(handle)
    problems: list[str] = []
    note = checkpoint["note"]
    lines = note.split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    if root.hex() != checkpoint["root_hash"] or size != checkpoint["tree_size"]:
        problems.append("the checkpoint's fields do not match its note")
    if args.vkey and (problem := check_signature(note, args.vkey)):
        problems.append(problem)
    if proof["tree_size"] != size:
        problems.append(f"the proof is for tree size {proof['tree_size']}, the checkpoint for {size}")
    leaf_hash = hashlib.sha256(b"\x00" + proof["leaf"].encode("utf-8")).digest()
    if leaf_hash.hex() != proof["leaf_hash"]:
        problems.append("the leaf text does not hash to leaf_hash")
    computed = root_from_inclusion(proof["leaf_index"], size, leaf_hash, [bytes.fromhex(h) for h in proof["hashes"]])
    if computed != root:
        problems.append("the inclusion proof does not lead to the checkpoint's root")
    if problems:
        for problem in problems:
            print(f"NOT VERIFIED: {problem}")
        return 1
    print(f"verified: leaf {proof['leaf_index']} is in the log of {size} entries"
          + (" signed by " + args.vkey.split("+")[0] if args.vkey else " (signature not checked: no --vkey)"))
    print(proof["leaf"], end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
