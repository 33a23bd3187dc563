"""Department signing keys (签章密钥): one Ed25519 key per department, made on its first certificate.

The private key is kept in the database encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
ONETHING_SECRET_KEY, with the key's id as associated data, so a database dump alone cannot sign, and a
ciphertext moved to another key row does not decrypt. The public key is stored in clear and published;
verification never needs the secret. ADR 014 says why a table and not files or an HSM.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onething.certificates.errors import KeysUnavailable
from onething.certificates.model import ED25519
from onething.certificates.tables import SigningKey
from onething.config import ConfigurationError, get_settings


def _wrapping_key() -> bytes:
    """The key that seals departments' private keys: derived from ONETHING_SECRET_KEY (required outside the
    demo; in the demo the random key kept in var/, never a constant)."""
    try:
        secret = get_settings().resolved_secret_key()
    except ConfigurationError as exc:
        raise KeysUnavailable(f"ONETHING_SECRET_KEY 未设置或过短：无法保护部门签章密钥（{exc}）") from None
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"onething certificate signing keys v1").derive(secret.encode("utf-8"))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_of(row: SigningKey) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key))


def private_key_of(row: SigningKey) -> Ed25519PrivateKey:
    blob = base64.b64decode(row.private_key)
    try:
        raw = AESGCM(_wrapping_key()).decrypt(blob[:12], blob[12:], row.id.encode("utf-8"))
    except InvalidTag:
        raise KeysUnavailable(f"部门 {row.department} 的签章密钥无法解密（ONETHING_SECRET_KEY 是否已更换？）") from None
    return Ed25519PrivateKey.from_private_bytes(raw)


def _new_key(department: str, now: datetime) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = _raw_public(private.public_key())
    key_id = f"{department}:{hashlib.sha256(public).hexdigest()[:16]}"
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(_wrapping_key()).encrypt(nonce, raw, key_id.encode("utf-8"))
    return SigningKey(id=key_id, department=department, algorithm=ED25519,
                      public_key=base64.b64encode(public).decode("ascii"),
                      private_key=base64.b64encode(sealed).decode("ascii"), created_at=now)


def department_key(session: Session, department: str, now: datetime) -> SigningKey:
    """The department's signing key, made on first use. Two first certificates at once: one insert wins (the
    unique department), the other's savepoint rolls back and it reads the winner's key."""
    found = session.scalar(select(SigningKey).where(SigningKey.department == department))
    if found is not None:
        return found
    key = _new_key(department, now)
    try:
        with session.begin_nested():
            session.add(key)
    except IntegrityError:
        found = session.scalar(select(SigningKey).where(SigningKey.department == department))
        if found is None:
            raise
        return found
    return key
