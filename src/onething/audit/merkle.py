"""The audit log's Merkle tree (RFC 9162 §2.1): hashes, proofs over stored subtrees, signed-note checkpoints.

Pure functions, standard library only. A tree is reached through ``subtree(start, end)``: the hash of the
leaves ``[start, end)``, which the stored tree (``audit.tree``) answers from its complete subtree hashes. The
proof functions ask only for ranges that RFC 9162's recursion visits, so a proof costs O(log n) look-ups.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

Subtree = Callable[[int, int], bytes]


def leaf_hash(leaf: bytes) -> bytes:
    """MTH of one leaf: SHA-256(0x00 ‖ leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def aligned_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` (``start`` a multiple of the range's split, as in every range RFC 9162 visits) cut into
    complete power-of-two subtrees, left to right: (level, index) of each stored node."""
    pieces: list[tuple[int, int]] = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        while start % (1 << level):
            level -= 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def root_of(pieces: list[bytes]) -> bytes:
    """The hash of a range from its complete subtrees' hashes, left to right, sizes decreasing: folded from the
    right, as MTH splits (each left piece is the range's largest power-of-two part)."""
    if not pieces:
        return EMPTY_ROOT
    digest = pieces[-1]
    for piece in reversed(pieces[:-1]):
        digest = node_hash(piece, digest)
    return digest


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 for leaf ``index`` in a tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between tree sizes ``first`` ≤ ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first == 0 or first == second:
        return []

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree(start, end)]
        k = split(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), subtree(start + k, end)]
        return [*subproof(m - k, start + k, end, False), subtree(start, start + k)]

    return subproof(first, 0, second, True)


# --- signed notes (C2SP signed-note / tlog-checkpoint) -------------------------------------------------------

def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


def checkpoint_body(origin: str, tree_size: int, root: bytes) -> str:
    """The checkpoint text that is signed: origin, tree size, base64 root, each on its own line."""
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode('ascii')}\n"


def signed_note(body: str, name: str, key: bytes, signature: bytes) -> str:
    """The note: body, a blank line, and the signature line ``— <name> <base64(key id ‖ signature)>``."""
    return f"{body}\n\u2014 {name} {base64.b64encode(key + signature).decode('ascii')}\n"


def parse_note(note: str) -> tuple[str, int, bytes, list[tuple[str, bytes, bytes]]]:
    """(origin, tree size, root, [(key name, key id, signature)]) of a checkpoint note; ValueError if malformed."""
    body, sep, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3:
        raise ValueError("not a checkpoint note")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    found: list[tuple[str, bytes, bytes]] = []
    for line in signatures.split("\n"):
        if not line:
            continue
        dash, name, blob = line.split(" ")
        if dash != "\u2014":
            raise ValueError("bad signature line")
        raw = base64.b64decode(blob, validate=True)
        found.append((name, raw[:4], raw[4:]))
    return origin, size, root, found


def note_body(note: str) -> str:
    """The signed text of a note (everything before the blank line, with its final newline)."""
    return note.partition("\n\n")[0] + "\n"
