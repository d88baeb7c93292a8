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

__all__ = ["access_paths", "with_access_paths"]

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


def _problems(*statuses: int) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    return {str(s): {"description": "refused", "content": problem} for s in statuses}


def _answer(status: int, schema: str, what: str) -> dict[str, Any]:
    return {
        str(status): {
            "description": what,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }


def access_paths(groups: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(paths, schemas)`` of the grant endpoints for a shim with these elevated groups."""
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
                "responses": {
                    **_answer(201, "GrantAnswer", "requested (or active: break-glass)"),
                    **_problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
            },
            "get": {
                "operationId": "listGrants",
                "summary": "Your grants, and those of the groups you approve (break-glass for review)",
                "security": _SECURITY,
                "responses": {**_answer(200, "GrantList", "grants"), **_problems(401, 429, 503)},
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
                "responses": {
                    **_answer(200, "GrantAnswer", "done"),
                    **_problems(400, 401, 403, 404, 409, 415, 422, 429, 503),
                },
            }
        }
    return paths, _schemas(groups)


def with_access_paths(doc: dict[str, Any], groups: Sequence[str]) -> dict[str, Any]:
    """A copy of ``doc`` with the grant endpoints added (what is there already is kept)."""
    out = copy.deepcopy(doc)
    paths, schemas = access_paths(groups)
    for path, item in paths.items():
        out.setdefault("paths", {}).setdefault(path, item)
    components = out.setdefault("components", {})
    for name, schema in schemas.items():
        components.setdefault("schemas", {}).setdefault(name, schema)
    schemes = components.setdefault("securitySchemes", {})
    schemes.setdefault("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    schemes.setdefault("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return out
