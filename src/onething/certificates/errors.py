"""Certificate errors (电子证照): each maps to one problem type in the web layer."""

from __future__ import annotations


class CertificateError(Exception):
    """Base of the certificate errors."""


class Invalid(CertificateError):
    """A request with bad fields; ``errors`` names each one."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


class AlreadyRevoked(CertificateError):
    """Revoking a certificate that is already revoked."""


class KeysUnavailable(CertificateError):
    """No secret to protect the departments' signing keys with (ONETHING_SECRET_KEY unset in production), or the
    stored private key cannot be decrypted with the current secret (it was changed)."""
