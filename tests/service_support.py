"""Shared set-up for the service runtime tests (not a test module).

Builds a :class:`ShimSpec` by hand around the committed golden translator
``generated_examples/customer_shim/customer_shim`` and a small hand-written
OpenAPI document with the fixed component names (``InternalRecord``,
``ExternalRecord``, ``InboundPayload``, ``Problem``), so the runtime is tested
independently of the OpenAPI renderer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shimgen.render.openapi import PROBLEM  # the Problem schema of every generated openapi.json

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "generated_examples" / "customer_shim"
KEYS_FILE = ROOT / "tests" / "fixtures" / "test-keys.json"
SCHEMAS = ROOT / "mappings" / "schemas"

if str(GOLDEN) not in sys.path:
    sys.path.insert(0, str(GOLDEN))

from customer_shim import translate as golden  # noqa: E402
from customer_shim.runtime.core import errors as golden_errors  # noqa: E402
from customer_shim.runtime.core import keys as golden_keys  # noqa: E402

from shimgen.runtime.core.errors import Problem, TranslationError  # noqa: E402
from shimgen.runtime.service.app import RouteSpec, ShimSpec  # noqa: E402

KEY_PARTNER = "partner-" + "p" * 40
KEY_HELPDESK = "helpdesk-" + "h" * 40
KEY_SLOW = "slow-" + "s" * 40
KEY_PORTAL = "portal-" + "o" * 40  # an external caller: proxy routes only

RECORD: dict[str, Any] = {
    "id": "3f6c2a1e-8b4d-4c59-9a1f-2d7e6b0c4a11",
    "email": "jana.novak@example.com",
    "phone": "+420601234567",
    "ssn": "219-09-9999",
    "name": {"given": "Jana", "family": "Novák"},
    "birth_date": "1988-03-14",
    "cards": [{"number": "4111111111111111", "cvv": "123"}],
    "status": "A",
    "risk_score": 0.07,
}


def install_golden_keys() -> None:
    """The golden translator uses its own copy of runtime.core.keys; give it the test keyset."""
    golden_keys.install(golden_keys.Keyset.from_json(KEYS_FILE.read_text(encoding="utf-8")))


def token(internal_id: str) -> str:
    """The external token of an internal customer id, as the shim would hand it out."""
    install_golden_keys()
    return golden_keys.current().tokenize(internal_id, "customer:id")


def _bundle(side: str, path: Path) -> dict[str, Any]:
    """A JSON Schema file's $defs as ``<side>.<Name>`` components, $refs rewritten."""
    text = path.read_text(encoding="utf-8").replace('"#/$defs/', f'"#/components/schemas/{side}.')
    return {f"{side}.{name}": schema for name, schema in json.loads(text)["$defs"].items()}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "customer shim (test fixture)", "version": "3"},
    "paths": {},
    "components": {
        "schemas": {
            **_bundle("internal", SCHEMAS / "customer.internal.json"),
            **_bundle("external", SCHEMAS / "customer.external.json"),
            "InternalRecord": {"$ref": "#/components/schemas/internal.Customer"},
            "ExternalRecord": {"$ref": "#/components/schemas/external.PartnerCustomer"},
            "InboundPayload": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "customerId": {"type": "string"},
                    "status": {"type": "string", "enum": ["active", "suspended", "closed"]},
                },
            },
            "Problem": PROBLEM,
        }
    },
}

_COMMON_OUT = (
    "customerId:tokenize",
    "contact.phone:mask",
    "firstName:pass",
    "lastName:pass",
    "birthYear:year",
    "status:map",
    "displayName:derived",
    "region:const",
)
FIELDS_OUT = {
    "support": ("contact.email:pass", *_COMMON_OUT),
    "billing": ("contact.email:mask_email", *_COMMON_OUT, "paymentMethods[].last4:last4"),
}
FIELDS_IN = {g: ("customerId:tokenize", "status:map") for g in ("support", "billing")}

ID_PARAM = (("customerId", "customerId", "id", "id"),)
ROUTES = (
    RouteSpec(
        "GET", "/customers/{customerId}", "GET", "/internal/customers/{id}",
        ID_PARAM, frozenset({"support", "billing"}), ("expand",), False,
    ),
    RouteSpec(
        "PATCH", "/customers/{customerId}", "PATCH", "/internal/customers/{id}",
        ID_PARAM, frozenset({"support", "billing"}), (), True,
    ),
    RouteSpec(
        "GET", "/customers", "GET", "/internal/customers",
        (), frozenset({"billing"}), ("limit",), False,
    ),
)  # fmt: skip


def _adapt(fn: Callable[[dict[str, Any], str | None], dict[str, Any]]) -> Any:
    """The golden package raises its own copy of TranslationError; the service under test
    (shimgen.runtime) catches shimgen's. In a generated shim both are one module."""

    def call(document: dict[str, Any], group: str | None) -> dict[str, Any]:
        try:
            return fn(document, group)
        except golden_errors.TranslationError as exc:
            problems = [Problem(p.pointer, p.message) for p in exc.problems]
            raise TranslationError(problems) from None

    return call


def make_spec(**changes: Any) -> ShimSpec:
    install_golden_keys()
    fields: dict[str, Any] = {
        "name": golden.SHIM,
        "version": golden.MAPPING_VERSION,
        "sha256": golden.MAPPING_SHA256,
        "groups": golden.GROUPS,
        "to_external": _adapt(golden.to_external),
        "to_internal": _adapt(golden.to_internal),
        "openapi": copy.deepcopy(OPENAPI),
        "fields_out": FIELDS_OUT,
        "fields_in": FIELDS_IN,
        "routes": ROUTES,
        "upstream_env": "CUSTOMER_UPSTREAM_URL",
        "upstream_timeout": None,
        "inbound_paths": ((("id",), ("customerId",)), (("status",), ("status",))),
    }
    fields.update(changes)
    return ShimSpec(**fields)


def sha(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def write_callers(path: Path) -> Path:
    path.write_text(
        "callers:\n"
        "  - name: partner\n"
        "    side: internal\n"
        "    groups: [support, billing]\n"
        f"    api_keys: ['{sha(KEY_PARTNER)}']\n"
        "  - name: helpdesk\n"
        "    side: internal\n"
        "    groups: [support]\n"
        f"    api_keys: ['{sha(KEY_HELPDESK)}']\n"
        "  - name: slow\n"
        "    side: internal\n"
        "    groups: [support]\n"
        f"    api_keys: ['{sha(KEY_SLOW)}']\n"
        "    rate_limit: {per_second: 0.01, burst: 2}\n"
        "  - name: portal\n"
        "    groups: [support, billing]\n"
        f"    api_keys: ['{sha(KEY_PORTAL)}']\n",
        encoding="utf-8",
    )
    return path


def headers(key: str = KEY_PARTNER, group: str | None = "support", **extra: str) -> dict[str, str]:
    out = {"X-API-Key": key, "Content-Type": "application/json"}
    if group is not None:
        out["Shim-Group"] = group
    out.update(extra)
    return out


def outbound_scope(sent: dict[str, str], length: int) -> dict[str, Any]:
    """The ASGI scope of ``POST /v1/outbound`` with headers ``sent`` and a body of ``length``
    bytes, for tests that drive the app directly to control when (or whether) the body comes."""
    raw = [(k.lower().encode(), v.encode()) for k, v in sent.items()]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/outbound", "raw_path": b"/v1/outbound",
        "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80), "state": {},
        "headers": [*raw, (b"content-length", str(length).encode())],
    }  # fmt: skip
