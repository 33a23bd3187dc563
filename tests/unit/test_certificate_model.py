"""The certificate's signed form: any changed field breaks the signature; the printed identifier is masked."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onething.certificates.model import Content, Holder, Verdict, masked, sign, signature_holds, verdict

CONTENT = Content(id="c1", application_id="a1", procedure="business-registration",
                  holder=Holder(name="张三", identifier="110101199003070011", kind="person"),
                  issuer_department="samr", issuer_name="市场监督管理局", title="营业执照", number="N-1",
                  issued_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC), valid_from=date(2026, 3, 2), valid_until=None,
                  fields={"经营范围": "餐饮服务"}, key_id="samr:0")


def test_every_changed_field_breaks_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    signature = sign(CONTENT, key)
    assert signature_holds(CONTENT, signature, key.public_key())
    changes = {"number": "N-2", "title": "x", "valid_until": date(2099, 1, 1), "fields": {},
               "holder": Holder(name="张三", identifier="110101199003070027", kind="person"),
               "issued_at": datetime(2026, 3, 2, 1, 0, 1, tzinfo=UTC), "key_id": "samr:1"}
    for name, value in changes.items():
        assert not signature_holds(dataclasses.replace(CONTENT, **{name: value}), signature, key.public_key()), name
    assert not signature_holds(CONTENT, signature, Ed25519PrivateKey.generate().public_key())


def test_verdicts_and_masking() -> None:
    assert verdict("issued", True) is Verdict.valid
    assert verdict("revoked", True) is Verdict.revoked
    assert verdict("revoked", False) is Verdict.unknown
    assert masked("110101199003070011", "person") == "1101**********0011"
    assert masked("91110105MA01ABCD00", "organisation") == "91110105MA01ABCD00"
