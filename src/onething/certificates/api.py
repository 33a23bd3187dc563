"""What other contexts use from certificates (电子证照): issuing inside an approval (cases), the services the web
layer calls, the subject's certificates (the exchange, for proofs), and the errors."""

from onething.certificates.errors import AlreadyRevoked, CertificateError, Invalid, KeysUnavailable
from onething.certificates.model import Content, Verdict, signed_bytes
from onething.certificates.service import (
    certificate_of_task,
    certificates_of,
    download,
    issue_for_approval,
    list_for_application,
    preview_for_approval,
    published_keys,
    result_errors,
    revoke,
    verify,
)

__all__ = [
    "AlreadyRevoked",
    "CertificateError",
    "Content",
    "Invalid",
    "KeysUnavailable",
    "Verdict",
    "certificate_of_task",
    "certificates_of",
    "download",
    "issue_for_approval",
    "list_for_application",
    "preview_for_approval",
    "published_keys",
    "result_errors",
    "revoke",
    "signed_bytes",
    "verify",
]
