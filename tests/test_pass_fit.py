"""The structural fit of a whole-field copy on recursive schemas: answers are the
greatest fixed point (a pair met again fits if the rest does), computed once per
pair, and a pair read as fitting that does not fit is never believed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shimgen.check.types import pass_fit
from shimgen.schema.loader import load_schema
from shimgen.schema.model import SchemaNode


def node(tmp: Path, defs: dict[str, Any], root: str) -> SchemaNode:
    path = tmp / f"{root}-{len(list(tmp.iterdir()))}.json"
    path.write_text(json.dumps({"$defs": defs, "$ref": f"#/$defs/{root}"}))
    return load_schema(path, None).root


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


S, INT = {"type": "string"}, {"type": "integer"}


def test_a_tree_fits_itself(tmp_path: Path) -> None:
    tree = node(tmp_path, {"T": obj(kids={"type": "array", "items": ref("T")}, v=S)}, "T")
    assert pass_fit(tree, tree) is None


def test_a_mismatch_below_the_recursion_is_found(tmp_path: Path) -> None:
    src = node(tmp_path, {"T": obj(next=ref("T"), v=S)}, "T")
    dst = node(tmp_path, {"T": obj(next=ref("T"), v=INT)}, "T")
    reason = pass_fit(src, dst)
    assert reason is not None and reason.endswith("`v`: string but the external field is integer")


def test_mutual_recursion_mismatch_is_found_from_either_side(tmp_path: Path) -> None:
    defs_in = {"A": obj(b=ref("B")), "B": obj(a=ref("A"), x=S)}
    defs_out = {"A": obj(b=ref("B")), "B": obj(a=ref("A"), x=INT)}
    src, dst = node(tmp_path, defs_in, "A"), node(tmp_path, defs_out, "A")
    assert pass_fit(src, dst) is not None
    assert pass_fit(src.properties["b"], dst.properties["b"]) is not None


@pytest.mark.parametrize("order", [("X", "Y"), ("Y", "X")])
def test_an_assumed_fit_that_fails_is_not_believed(tmp_path: Path, order: tuple[str, str]) -> None:
    """N = {next: N, v: string} onto U = oneOf[X, Y]: X = {next: U, v: integer} looks fine
    while `next` is assumed, then fails on `v`; only Y fits, whichever comes first."""
    src = node(tmp_path, {"N": obj(next=ref("N"), v=S)}, "N")
    defs = {
        "U": {"oneOf": [ref(order[0]), ref(order[1])]},
        "X": {**obj(next=ref("U"), v=INT), "required": ["v"]},
        "Y": {**obj(next=ref("U"), v=S), "required": ["v"]},
    }
    assert pass_fit(src, node(tmp_path, defs, "U")) is None
    defs["Y"] = {**obj(next=ref("U"), v={"type": "boolean"}), "required": ["v"]}
    assert pass_fit(src, node(tmp_path, defs, "U")) is not None


def test_a_long_chain_of_shared_types_is_compared_once_per_pair(tmp_path: Path) -> None:
    """Each type reaches the next through three fields: 3^40 paths, 41 pairs."""
    defs = {
        f"T{i}": obj(a=ref(f"T{i + 1}"), b=ref(f"T{i + 1}"), c=ref(f"T{i + 1}")) for i in range(40)
    }
    defs["T40"] = obj(v=S, back=ref("T0"))
    root = node(tmp_path, defs, "T0")
    assert pass_fit(root, root) is None
