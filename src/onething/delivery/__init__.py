"""Delivery: the outbox worker that feeds department systems (部门系统对接) through signed webhooks.

The case runtime writes ``outbox_events`` rows in the same transaction as each state change; this context
claims due rows, POSTs them to each department's webhook with an HMAC-SHA256 signature, records every attempt
in ``deliveries``, and retries with capped exponential backoff. Receivers de-duplicate by event id, so
at-least-once delivery has an exactly-once effect. See docs/adr/004-outbox-and-webhooks.md.
"""
