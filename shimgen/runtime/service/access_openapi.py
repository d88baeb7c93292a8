"""The grant endpoints in the OpenAPI document the shim serves.

Merged into the served ``/openapi.json`` by the runtime itself, at ``build_app``,
exactly when it serves them (the mapping has elevated groups): the document a
client reads then always matches the routes the app has, whichever generator
wrote the package's ``openapi.json``. Paths and schemas already present are
left as they are, so a generator that writes them too changes nothing here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .grants import MAX_TEXT

__all__ = ["SCHEMAS", "access_paths", "with_access_paths"]

SCHEMAS = frozenset({"GrantRequest", "GrantAction", "Grant", "GrantAnswer", "GrantList"})

_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"name": "grant", "in": "path", "required": True, "schema": {"type": "string"}}
_SECURITY: list[dict[str, list[str]]] = [
    {"apiKey": []},
    {"bearer": []},
]  # the schemes every generated document has


def _schemas(groups: Sequence[str]) -> dict[str, Any]:
    return {
        "GrantRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["group", "reason"],
            "properties": {
                "group": {"type": "string", "enum": list(groups)},
                "seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Duration once active; default and most: the group's maximum",
                },
                "reason": {**_TEXT, "description": "Why (printable text, no control characters)"},
                "ticket": _TEXT,
                "break_glass": {
                    "type": "boolean",
                    "default": False,
                    "description": "Emergency access: active at once, alerts",
                },
            },
        },
        "GrantAction": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"reason": _TEXT},
        },
        "Grant": {
            "type": "object",
            "required": ["id", "group", "caller", "state", "break_glass", "reason", "seconds"],
            "properties": {
                "id": {"type": "string"},
                "group": {"type": "string"},
                "caller": {"type": "string"},
                "state": {"enum": ["pending", "queued", "active", "expired", "denied", "revoked"]},
                "break_glass": {"type": "boolean"},
                "reason": {"type": "string"},
                "ticket": {"type": ["string", "null"]},
                "seconds": {"type": "integer"},
                "requested": {"type": "string", "format": "date-time"},
                "starts": _NULLABLE_TIME,
                "expires": _NULLABLE_TIME,
                "approved_by": {"type": "array", "items": {"type": "string"}},
                "approvals_required": {"type": "integer"},
                "ended_by": {"type": ["string", "null"]},
                "ended": _NULLABLE_TIME,
            },
        },
        "GrantAnswer": {
            "type": "object",
            "required": ["grant", "note"],
            "properties": {"grant": _ref("Grant"), "note": {"type": "string"}},
        },
        "GrantList": {
            "type": "object",
            "required": ["grants", "review"],
            "properties": {
                "grants": {"type": "array", "items": _ref("Grant")},
                "review": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "ids of break-glass grants, for review",
                },
            },
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ERRORS: dict[int, str] = {
    400: "Malformed JSON, or a request the service cannot read.",
    401: "No credentials, or credentials that are not valid.",
    403: "Not eligible, not an approver, the requester approving its own grant, "
    "or no break-glass for the group.",
    404: "No grant with this id is visible to the caller.",
    409: "The caller already has a grant (one elevated group at a time), took a break-glass "
    "grant of the group in the last 24 h, or (revoking) waits for a slot of the group itself; "
    "or the grant is not in a state this action applies to.",
    413: "Body larger than SHIM_MAX_BODY_BYTES.",
    415: "The body is not application/json.",
    422: "Not an elevated group, a duration over the maximum, a reason or ticket that is not "
    "1 to 1024 printable characters, or an unknown member; `errors` names each JSON pointer.",
    429: "Over the caller's rate limit; retry after Retry-After seconds.",
    500: "Unexpected error; the request id finds it in the service log.",
    503: "The grant store or the audit trail is unavailable: nothing changed.",
}


def _responses(
    header: dict[str, Any], ok: int, schema: str, what: str, errors: Sequence[int]
) -> dict[str, Any]:
    """The responses as every operation of the document has them: ``Shim-Mapping`` on each,
    problem details for errors, ``Retry-After`` with 429."""
    out: dict[str, Any] = {
        str(ok): {
            "description": what,
            "headers": header,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }
    for status in sorted({*errors, 401, 429, 500, 503}):
        headers = dict(header)
        if status == 429:
            headers["Retry-After"] = {
                "description": "Seconds until the caller's rate allows a request again.",
                "schema": {"type": "string"},
            }
        out[str(status)] = {
            "description": _ERRORS[status],
            "headers": headers,
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
    return out


def access_paths(groups: Sequence[str], mapping: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(paths, schemas)`` of the grant endpoints for a shim with these elevated groups.

    ``mapping`` is the ``Shim-Mapping`` header value (``<name>; version=<n>; sha256=<hex>``).
    They take no ``Shim-Group``: they act in no group (see :mod:`.access`).
    """
    header = {
        "Shim-Mapping": {
            "description": "The mapping that made this response: name, version and sha256.",
            "required": True,
            "schema": {"type": "string", "const": mapping},
        }
    }
    body_errors = (400, 403, 409, 413, 415, 422)
    action_body = {
        "required": False,
        "content": {"application/json": {"schema": _ref("GrantAction")}},
    }
    paths: dict[str, Any] = {
        "/v1/access/grants": {
            "post": {
                "operationId": "requestGrant",
                "summary": "Request an elevated group (or take it in an emergency: break_glass)",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("GrantRequest")}},
                },
                "responses": _responses(
                    header, 201, "GrantAnswer", "Requested (or active: break-glass)", body_errors
                ),
            },
            "get": {
                "operationId": "listGrants",
                "summary": "Your grants, and those of the groups you approve (break-glass for review)",
                "security": _SECURITY,
                "responses": _responses(header, 200, "GrantList", "The grants", ()),
            },
        },
    }
    for action, summary in (
        ("approve", "Approve a pending grant (approvers only, never the requester)"),
        ("deny", "Deny a pending or queued grant (approvers only)"),
        ("revoke", "End a grant now (its holder or an approver)"),
    ):
        paths[f"/v1/access/grants/{{grant}}/{action}"] = {
            "post": {
                "operationId": f"{action}Grant",
                "summary": summary,
                "security": _SECURITY,
                "parameters": [_ID],
                "requestBody": action_body,
                "responses": _responses(header, 200, "GrantAnswer", "Done", (*body_errors, 404)),
            }
        }
    return paths, _schemas(groups)


def with_access_paths(doc: dict[str, Any], groups: Sequence[str], mapping: str) -> dict[str, Any]:
    """A copy of ``doc`` with the grant endpoints added (what is there already is kept)."""
    out = copy.deepcopy(doc)
    paths, schemas = access_paths(groups, mapping)
    for path, item in paths.items():
        out.setdefault("paths", {}).setdefault(path, item)
    components = out.setdefault("components", {})
    merged = {**schemas, **components.get("schemas", {})}
    components["schemas"] = dict(sorted(merged.items()))  # sorted, like the generator's
    schemes = components.setdefault("securitySchemes", {})
    schemes.setdefault("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    schemes.setdefault("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return out
