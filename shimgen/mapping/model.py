"""The mapping file format (``NAME.shim.yaml``) as pydantic models.

These models are the single definition of the format: ``shimgen schema``
exports them as JSON Schema for editors, and the loader validates against
them. They check shape only; meaning (paths, types, groups) is the checker's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

BARE_NULL = "bare_null"
"""The error type of a treatment written as a bare YAML ``null`` (or left empty)."""


def no_bare_null(value: object) -> object:
    """A treatment is never YAML's no-value: a bare ``null``, ``~`` or nothing after the colon.

    The ``null`` treatment is written quoted (``"null"``); reading a bare null as it would
    make ``email:`` with nothing after it mean "send null", so it is an error (SG115).
    """
    if value is None:
        raise PydanticCustomError(
            BARE_NULL, "no treatment: YAML reads a bare null, `~` or nothing as no value"
        )
    return value


TreatSpec = Annotated[str | dict[str, Any], BeforeValidator(no_bare_null)]
"""A treatment as written: ``drop``, ``mask_email``, ``{mask: {keep_last: 4}}``, ``"null"``."""

ShimName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=63)]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=63)]
Classification = Literal["public", "internal", "pii", "secret"]
"""A built-in level (``shimgen.mapping.levels.BUILTIN_LEVELS``)."""
TrackingKind = Literal[
    "volume", "enumeration", "first-use", "probing", "mass-assignment", "off-hours"
]
"""A heuristic-tracking detection (``shimgen.runtime.service.incidents.KINDS``)."""
TrackingEffect = Literal["log", "flag", "throttle", "deny"]
"""What a detection does (``shimgen.runtime.service.incidents.EFFECTS``), weakest first."""
DEFAULT_TRACKING_EFFECT: TrackingEffect = "log"
"""The effect of a detection kind the mapping's ``tracking:`` does not name."""
LevelName = Annotated[str, StringConstraints(min_length=1)]
"""A level as written under ``classification:``: built in, or declared under ``levels:``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SchemaRef(_Strict):
    """Which schema file, and which model in it, one side of the boundary uses."""

    schema_: str = Field(
        alias="schema",
        description="JSON Schema or OpenAPI 3.x file (YAML or JSON), relative to the mapping.",
    )
    model: str | None = Field(
        default=None,
        description="Root schema: a $defs/definitions or components.schemas name; omitted: the document root.",
    )


class FieldRule(_Strict):
    """What happens to one internal field on its way out (and back in)."""

    to: str | None = Field(
        default=None,
        description='External path (`a.b`, `a[].b`; a name with `.`, `[`, `]`, a space or a quote is quoted: `a."b.c"`); omitted: the same path.',
    )
    treat: TreatSpec = Field(default="pass", description="Treatment; omitted: pass.")
    groups: dict[GroupName, TreatSpec] = Field(
        default_factory=dict, description="Per functional group treatment overrides."
    )
    inbound: bool = Field(
        default=False, description="External callers may send this field back (reversible only)."
    )
    why: str | None = Field(default=None, description="Justification, shown to reviewers.")
    description: str | None = None


class DerivedRule(_Strict):
    """An external field computed from internal fields or a constant."""

    from_: list[str] | None = Field(
        default=None, alias="from", description='Internal paths (`a.b`, `a."b.c"`).'
    )
    template: str | None = Field(
        default=None, description='Python format string over the sources: "{0} {1}".'
    )
    const: str | int | float | bool | None = Field(default=None, description="A constant value.")
    count: str | None = Field(
        default=None, description="Internal path to an array: the field is its number of items."
    )
    groups: dict[GroupName, Literal["drop", "pass"]] = Field(
        default_factory=dict, description="Groups that do not get this field (drop)."
    )
    why: str | None = None
    description: str | None = None


DURATION = r"^[1-9][0-9]*[smh]$"
"""A duration as written: ``90s``, ``30m``, ``4h``, or a whole number of seconds."""
_UNIT = {"s": 1, "m": 60, "h": 3600}


def duration_seconds(value: object) -> int:
    """``90s``, ``30m``, ``4h`` or a whole number of seconds, in seconds.

    Anything else (``1d``, ``4H``, ``4.5h``, ``true``) is refused with the forms it may
    take; whether the length is allowed is the checker's (SG128), so it can say why.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(DURATION, value):
        return int(value[:-1]) * _UNIT[value[-1]]
    raise ValueError(
        f"write a duration as 90s, 30m, 4h or a whole number of seconds, not {value!r}"
    )


def format_duration(seconds: int) -> str:
    """``4h``, ``30m``, ``90s``: how the mapping would write ``seconds`` (for messages and reports)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    int,
    BeforeValidator(duration_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 60, "maximum": 86400},
                {"type": "string", "pattern": DURATION},
            ]
        }
    ),
]
"""A duration, held in seconds once read."""


class ElevationRule(_Strict):
    """How an elevated group is held: callers listed for it are only eligible (rotational access)."""

    max_duration: Duration = Field(
        description="Longest grant a caller may ask for: `30m`, `4h`, or seconds; 1 minute to 24 hours.",
    )
    approvals: Annotated[int, Field(ge=1, le=10, strict=True)] = Field(
        description="Distinct approvers a request needs; the requester never counts.",
    )
    approvers: list[GroupName] = Field(
        min_length=1,
        description="Standing (not elevated) groups whose members may approve or deny requests.",
        json_schema_extra={"uniqueItems": True},
    )
    max_holders: Annotated[int, Field(ge=1, strict=True)] | None = Field(
        default=None, description="Grants active at once, over all callers; omitted: no cap."
    )
    excludes: list[GroupName] = Field(
        default_factory=list,
        description="Groups a holder may not act in while the grant is active (separation of duty).",
        json_schema_extra={"uniqueItems": True},
    )
    break_glass: Duration | None = Field(
        default=None,
        description="Emergency grants without approval, up to this long (at most 1 hour), "
        "always alerting; omitted: no emergency access.",
    )
    beyond: GroupName | None = Field(
        default=None,
        description="The standing group holders normally act in; the review shows what the "
        "elevation adds beyond it. Omitted: beyond the most restrictive view.",
    )


class GroupSpec(_Strict):
    """A functional group written out in full (needed for an elevated group)."""

    description: str = Field(description="What the group is for.")
    elevated: ElevationRule | SkipJsonSchema[None] = Field(
        default=None, description="Held only under a grant that expires (rotational access)."
    )

    @field_validator("elevated", mode="before")
    @classmethod
    def _written_out(cls, value: object) -> object:
        """``elevated:`` left empty must not quietly make the group standing (fail open)."""
        if value is None:
            raise ValueError(
                "`elevated:` is empty; write its rules, or remove the key for a standing group"
            )
        return value


ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
"""What ``upstream.url_env`` must look like; the checker reports a mismatch (SG127)."""
QUERY_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
"""What a forwarded query parameter name must look like (SG126)."""
ENDPOINT = r"^(GET|POST|PUT|PATCH|DELETE) /"
"""The start of a route's ``external``/``internal``; the checker parses the rest (SG120)."""

QueryName = Annotated[str, Field(json_schema_extra={"pattern": QUERY_NAME})]


class UpstreamSpec(_Strict):
    """The internal API that proxy routes forward to. Its address is never in the mapping."""

    url_env: str = Field(
        description="Name of the environment variable holding the internal API's base URL.",
        json_schema_extra={"pattern": ENV_NAME},
    )
    timeout: Annotated[float, Field(strict=True)] | None = Field(
        default=None,
        description="Seconds (> 0) to wait for the internal API; omitted: the service default.",
    )


class RouteRule(_Strict):
    """A proxy route: an external method and path bound to one of the internal API."""

    external: str = Field(
        description="`METHOD /path` callers use; `{field}` segments are external fields.",
        json_schema_extra={"pattern": ENDPOINT, "examples": ["GET /customers/{customerId}"]},
    )
    internal: str = Field(
        description="`METHOD /path` of the internal API; `{field}` segments are internal fields.",
        json_schema_extra={"pattern": ENDPOINT, "examples": ["GET /internal/customers/{id}"]},
    )
    groups: list[GroupName] = Field(
        description="Functional groups allowed to call the route (at least one; nobody else may).",
    )
    query: list[QueryName] = Field(
        default_factory=list,
        description="Query parameters forwarded unchanged; every other one is dropped.",
    )


class Mapping(_Strict):
    """A whole mapping file."""

    shim: ShimName = Field(description="Service name, [a-z][a-z0-9-]*.")
    version: Annotated[int, Field(ge=1, strict=True)] = Field(
        description="Integer, bumped on every change."
    )
    owner: str = Field(min_length=1, description="Owning team.")
    description: str = Field(default="", description="What this boundary is for.")
    internal: SchemaRef
    external: SchemaRef
    groups: dict[GroupName, str | GroupSpec] = Field(
        default_factory=dict,
        description="Functional groups and what they are for: a description, or "
        "`{description, elevated: {...}}` for a group held only under a grant.",
    )
    extends: str | None = Field(
        default=None,
        description="A lint ruleset file (relative to the mapping) whose `levels:` apply here too.",
    )
    levels: dict[str, Classification] = Field(
        default_factory=dict,
        description="The organisation's own classification levels and the built-in level "
        "(public, internal, pii, secret) each counts as: `{confidential: pii, restricted: secret}`.",
    )
    classification: dict[str, LevelName] = Field(
        default_factory=dict,
        description="Classification per internal path, over the schema's x-classification: "
        "a built-in level (public, internal, pii, secret) or one declared under `levels:`; "
        "an unknown level is an error.",
    )
    fields: dict[str, Annotated[FieldRule | str, BeforeValidator(no_bare_null)]] = Field(
        description='Every internal field, keyed by its path (`a.b`, `a[].b`, `a."b.c"`): a rule, or a bare treatment (`ssn: drop`).'
    )
    derived: dict[str, DerivedRule] = Field(
        default_factory=dict, description="External fields computed, not copied."
    )
    upstream: UpstreamSpec | None = Field(
        default=None, description="The internal API proxy routes forward to."
    )
    routes: list[RouteRule] = Field(
        default_factory=list, description="Proxy routes: external path -> internal API."
    )
    tracking: dict[TrackingKind, TrackingEffect] = Field(
        default_factory=dict,
        description="What each heuristic-tracking detection does: log (the default), flag "
        "(also a Shim-Flag response header), throttle (also a lower rate limit) or deny (also "
        "403) while its incident is open: `{enumeration: deny, volume: flag}`.",
    )

    def group_description(self, name: str) -> str:
        """What group ``name`` is for, however it is written."""
        value = self.groups[name]
        return value if isinstance(value, str) else value.description

    def elevation(self, name: str) -> ElevationRule | None:
        """How group ``name`` is held when it is elevated; None for a standing group."""
        value = self.groups[name]
        return None if isinstance(value, str) else value.elevated

    def rule(self, key: str) -> FieldRule:
        """The rule for a field key, expanding the bare-treatment shorthand."""
        value = self.fields[key]
        return value if isinstance(value, FieldRule) else FieldRule(treat=value)


def mapping_json_schema() -> dict[str, Any]:
    """JSON Schema of the mapping format, for YAML editors (``shimgen schema``)."""
    from shimgen.treatments import spec_schema

    schema = Mapping.model_json_schema(by_alias=True)
    _close_pattern_objects(schema)
    treat = spec_schema()
    schema["$defs"]["Treatment"] = {
        "description": "A treatment: its name, or a one-key mapping with its parameters.",
        **treat,
    }
    schema["$defs"]["TreatmentName"] = {
        "description": "A treatment written by name alone (`ssn: drop`).",
        "enum": [f["const"] for f in treat["anyOf"] if "const" in f],
    }
    _treatments_by_ref(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shimgen mapping file"
    return schema


def _close_pattern_objects(node: Any) -> None:
    """Keys constrained by a pattern (group names) must not slip through as extras."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_objects(value)


_TREAT_SPEC = [{"type": "string"}, {"additionalProperties": True, "type": "object"}]
"""How pydantic writes :data:`TreatSpec`; replaced by the registry's own schema."""


def _treatments_by_ref(node: Any) -> None:
    """Point every treatment spec at ``$defs/Treatment``, read from the registry.

    ``fields`` values are a rule or a bare treatment name (``ssn: drop``).
    """
    if isinstance(node, dict):
        if node.get("anyOf") == _TREAT_SPEC:
            node["anyOf"] = [{"$ref": "#/$defs/Treatment"}]
        fields = node.get("properties", {}).get("fields", {}).get("additionalProperties")
        if isinstance(fields, dict) and {"type": "string"} in fields.get("anyOf", []):
            fields["anyOf"] = [
                {"$ref": "#/$defs/TreatmentName"} if f == {"type": "string"} else f
                for f in fields["anyOf"]
            ]
        for value in node.values():
            _treatments_by_ref(value)
    elif isinstance(node, list):
        for value in node:
            _treatments_by_ref(value)
