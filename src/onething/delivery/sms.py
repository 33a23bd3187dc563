"""短信通知 through the outbox: an ``sms.send`` event written in the same transaction as the change it tells
the applicant about, posted by the delivery worker — signed like a webhook — to the SMS gateway configured by
``ONETHING_SMS_GATEWAY_URL`` and ``ONETHING_SMS_GATEWAY_SECRET``. Without a gateway the event is skipped
(recorded, not retried). Logs show the number masked (138****8000), never whole.

The payload a gateway receives: ``{event_id, kind: "sms.send", to, text, application, number, department:
"sms"}``. A real gateway adapter (运营商/云短信) verifies the signature and sends ``text`` to ``to``.
"""

from __future__ import annotations

import re

from pydantic_settings import BaseSettings, SettingsConfigDict

SMS_KIND = "sms.send"
SMS_TARGET = "sms"           # the "department" column of an SMS leg in ``deliveries``
_PHONE = re.compile(r"^(1[3-9]\d)\d{4}(\d{4})$")


class SmsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_SMS_", extra="ignore")

    gateway_url: str | None = None                 # ONETHING_SMS_GATEWAY_URL
    gateway_secret: str | None = None              # ONETHING_SMS_GATEWAY_SECRET (HMAC key, as for webhooks)


def sms_settings() -> SmsSettings:
    """Read afresh each time (an operator's change applies to the next event; tests set their own)."""
    return SmsSettings()


def sms_enabled() -> bool:
    """Whether SMS are sent at all: a gateway URL and secret are configured (else nothing is queued)."""
    settings = sms_settings()
    return bool(settings.gateway_url and settings.gateway_secret)


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``; anything else → ``***``."""
    match = _PHONE.match(phone or "")
    return f"{match.group(1)}****{match.group(2)}" if match else "***"
