"""Audit trail (审计日志): an append-only, hash-chained record of every state change, shared by all contexts."""
