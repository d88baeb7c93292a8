"""Read an OpenAPI ``discriminator`` beside a ``oneOf``/``anyOf`` into the model.

The discriminator names the property whose value says which branch a record
is. Its ``mapping`` pairs values with ``$ref``s (or bare component names); a
branch reached through a ``$ref`` is also named by its component name
(OpenAPI's implicit mapping). Values are tied to branch *indexes*, so the
check and the generated code pick the same branch. A mapping entry that names
no branch of the union is left out: a record carrying that value then matches
no branch and is refused at run time, which is the deny-by-default answer.
"""

from __future__ import annotations

from typing import Any

from shimgen.schema.model import Discriminator
from shimgen.schema.refs import DocumentStore, Located, SchemaError, last_segment


def read_discriminator(
    store: DocumentStore, where: Located, branches: list[Located]
) -> Discriminator | None:
    """The discriminator of the union declared at ``where`` over ``branches``, if any."""
    spec = where.value.get("discriminator") if isinstance(where.value, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        return None
    targets = [_target(store, b) for b in branches]
    values: dict[str, int] = {}
    mapping = spec.get("mapping")
    if isinstance(mapping, dict):
        for value, ref in mapping.items():
            if not isinstance(ref, str):
                continue
            ref = ref if "#" in ref or "/" in ref else f"#/components/schemas/{ref}"
            target = _target(store, Located(where.doc, where.pointer, {"$ref": ref}))
            if target is not None and target in targets:
                values.setdefault(str(value), targets.index(target))
    for i, branch in enumerate(branches):
        ref = branch.value.get("$ref") if isinstance(branch.value, dict) else None
        name = last_segment(ref.partition("#")[2]) if isinstance(ref, str) else None
        if name and name not in values and i not in values.values():
            values[name] = i
    return Discriminator(spec["propertyName"], tuple(values.items()))


def _target(store: DocumentStore, loc: Located) -> tuple[Any, str] | None:
    """Where a branch's ``$ref`` leads (file, pointer); the branch itself if it has none."""
    if not isinstance(loc.value, dict) or "$ref" not in loc.value:
        return loc.key
    try:
        return store.resolve(loc).key
    except SchemaError:
        return None
