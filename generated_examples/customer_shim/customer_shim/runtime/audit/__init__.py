"""The audit trail: hash-chained records in a sink, signed checkpoints, anchors, verification.

Imports ``core`` (keysets hold the audit signing key) and never ``service``: the
trail can be verified (``audit verify``) without the HTTP stack.
"""
