"""National platform reporting (国家政务服务平台对接): 办件 status and 好差评 records reported upward.

The case runtime writes one ``national.*`` outbox row per reportable change, in the change's own transaction
(``onething.cases.national`` builds the record with :mod:`onething.hub.spec`); :mod:`onething.hub.sender`
posts them, signed, to ``ONETHING_NATIONAL_HUB_URL`` with the outbox's retries and backoff, and records the
hub's acknowledgement or rejection; :mod:`onething.hub.reconcile` compares a day's records with the hub's
listing and sends again what the hub lacks. :mod:`onething.hub.sandbox` plays the hub. See
docs/adr/020-national-platform-reporting.md.
"""
