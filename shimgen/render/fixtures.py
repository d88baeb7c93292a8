"""The generated tests' data files: canary records and what each view must not show.

The generated tests used to carry these as Python literals. On a large schema
they are the biggest thing generated (before the canary followed the recursion
hub rule, 57 MB for FHIR ``Patient``), and running a formatter over a literal
that size took minutes and gigabytes. As JSON beside the tests they cost one
``json.dumps``; the tests load them at import and assert exactly what they
asserted before.

``tests/canary.json`` drives the translator tests (``to_external`` directly);
``tests/http_canary.json`` holds the record repaired to pass the internal
schema's validation (``httpcanary``), for the service tests. Views are a list
of objects because the view of a request made in no group is ``null``, which
JSON cannot use as a key. Bytes are deterministic: the records keep schema
order, everything else is sorted by the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shimgen.check.plan import ShimPlan, View
from shimgen.render.servicespec import inbound_rules
from shimgen.schema.model import Path_

Inbound = dict[View, list[tuple[Path_, Path_]]]


def inbound_pairs(plan: ShimPlan) -> Inbound:
    """Per view, the (internal, external) paths an external caller may send back."""
    return {v: [(r.internal, r.external) for r in inbound_rules(plan, v)] for v in plan.views}


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


def fixture_file(
    about: str,
    record: dict[str, Any],
    forbidden: Mapping[View, Sequence[Any]],
    inbound: Inbound,
    **extra: Any,
) -> str:
    """One data file: the record, and per view its forbidden texts and inbound pairs."""
    views = [
        {
            "group": view,
            "forbidden": list(forbidden[view]),
            "inbound": [[list(i), list(e)] for i, e in inbound[view]],
        }
        for view in forbidden
    ]
    return _dump({"about": about, "record": record, **extra, "views": views})
