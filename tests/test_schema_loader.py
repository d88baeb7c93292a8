"""The schema loader on small hand-written schemas, one feature per test.

Each fixture under ``tests/fixtures/schemas`` exercises one family of inputs
(draft-07 with a second file, 2020-12, OpenAPI 3.0 YAML, OpenAPI 3.1 JSON,
recursion), so a failure names the spelling of JSON Schema that broke.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import (
    ARRAY,
    Kind,
    LoadedSchema,
    SchemaNode,
    format_path,
    iter_leaves,
    lookup,
    parse_path,
)

FIXTURES = Path(__file__).parent / "fixtures" / "schemas"


def load(name: str, model: str | None = None) -> LoadedSchema:
    return load_schema(FIXTURES / name, model)


def at(loaded: LoadedSchema, path: str) -> SchemaNode:
    return lookup(loaded.root, parse_path(path))


def leaves(loaded: LoadedSchema) -> dict[str, bool]:
    """Leaf path -> recursive flag."""
    return {format_path(leaf.path): leaf.recursive for leaf in iter_leaves(loaded.root)}


# --- draft-07, definitions, a second file --------------------------------------------


@pytest.fixture(scope="module")
def customer() -> LoadedSchema:
    return load("draft07_customer.json")


def test_draft07_root_object_with_required(customer: LoadedSchema) -> None:
    root = customer.root
    assert root.kind is Kind.OBJECT
    assert root.name == "Customer"  # the root's title
    assert root.required == frozenset({"id", "email", "status"})
    assert customer.model == ""
    assert (
        customer.sha256
        == hashlib.sha256((FIXTURES / "draft07_customer.json").read_bytes()).hexdigest()
    )


def test_draft07_model_by_title_is_the_root() -> None:
    assert (
        load("draft07_customer.json", "Customer").root.properties.keys()
        == load("draft07_customer.json").root.properties.keys()
    )


def test_relative_file_refs_resolve_and_are_recorded(customer: LoadedSchema) -> None:
    email = at(customer, "email")
    assert (email.kind, email.format, email.classification) == (Kind.STRING, "email", "pii")
    assert email.name == "Email"
    assert email.source.endswith("common/types.json#/definitions/Email")
    phone = at(customer, "address.phone")  # a ref inside the second file, resolved there
    assert (phone.kind, phone.classification, phone.name) == (Kind.STRING, "pii", "E164")
    balance = at(customer, "balance")  # a whole-file YAML ref
    assert balance.kind is Kind.OBJECT and balance.required == frozenset({"amount"})
    assert at(customer, "balance.currency").enum == ("EUR", "USD")
    names = [p.name for p in customer.files]
    assert names == ["money.yaml", "types.json", "draft07_customer.json"]  # sorted by full path
    assert list(customer.files) == sorted(customer.files, key=str)
    assert len(set(customer.files)) == len(customer.files)


def test_same_ref_target_is_the_same_node(customer: LoadedSchema) -> None:
    assert at(customer, "email") is at(customer, "backup_email")


def test_ref_sibling_classification_makes_a_decorated_copy(customer: LoadedSchema) -> None:
    ssn = at(customer, "ssn")
    assert (ssn.kind, ssn.classification, ssn.name) == (Kind.STRING, "secret", "SSN")


def test_annotations(customer: LoadedSchema) -> None:
    ident = at(customer, "id")
    assert (ident.format, ident.read_only, ident.write_only) == ("uuid", True, False)
    password = at(customer, "password")
    assert (password.write_only, password.classification) == (True, "secret")
    assert at(customer, "birth_date").format == "date"
    assert at(customer, "cards[].number").classification == "secret"
    assert at(customer, "cards[].expires").format == "date"


def test_enums_and_const(customer: LoadedSchema) -> None:
    status = at(customer, "status")
    assert (status.kind, status.enum) == (Kind.STRING, ("A", "S", "X"))
    tier = at(customer, "tier")  # no type: inferred from the values
    assert (tier.kind, tier.enum) == (Kind.INTEGER, (1, 2, 3))
    kind = at(customer, "kind")
    assert (kind.kind, kind.enum) == (Kind.STRING, ("customer",))


def test_pointer_escapes(customer: LoadedSchema) -> None:
    assert at(customer, "slashed").kind is Kind.INTEGER
    assert at(customer, "slashed").name == "a/b"
    assert at(customer, "tilded").kind is Kind.BOOLEAN
    assert at(customer, "tilded").name == "x~y"


def test_any_and_arrays(customer: LoadedSchema) -> None:
    assert at(customer, "anything").kind is Kind.ANY
    assert at(customer, "also_anything").kind is Kind.ANY
    tags = at(customer, "tags")
    assert tags.kind is Kind.ARRAY and tags.items is not None and tags.items.kind is Kind.STRING
    assert at(customer, "note").kind is Kind.STRING  # `not` is ignored
    assert "cards[].cvv" in leaves(customer)


# --- 2020-12, $defs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def order() -> LoadedSchema:
    return load("defs_2020.json")


def test_2020_root_ref_and_defs(order: LoadedSchema) -> None:
    assert order.root.name == "Order"
    assert at(order, "lines[].qty").kind is Kind.INTEGER
    assert at(order, "self_ref") is at(order, "lines[]")  # a ref through the document's own $id


def test_maps(order: LoadedSchema) -> None:
    labels = at(order, "labels")
    assert labels.kind is Kind.MAP and labels.values is not None
    assert labels.values.kind is Kind.STRING
    counters = at(order, "counters")  # patternProperties with one schema
    assert counters.kind is Kind.MAP and counters.values is not None
    assert counters.values.kind is Kind.INTEGER
    free = at(order, "free")  # `type: object` and nothing else
    assert free.kind is Kind.MAP and free.values is not None and free.values.kind is Kind.ANY
    assert at(order, "closed").kind is Kind.OBJECT and not at(order, "closed").properties
    open_fields = at(order, "open_with_fields")  # fields win over additionalProperties: true
    assert open_fields.kind is Kind.OBJECT and list(open_fields.properties) == ["a"]


def test_tuples_and_untyped_arrays(order: LoadedSchema) -> None:
    point = at(order, "point")  # [number, number]: one shape
    assert point.items is not None and point.items.kind is Kind.NUMBER
    pair = at(order, "pair")
    assert pair.items is not None and pair.items.kind is Kind.UNION
    assert [v.kind for v in pair.items.variants] == [Kind.STRING, Kind.INTEGER]
    untyped = at(order, "untyped_list")
    assert untyped.items is not None and untyped.items.kind is Kind.ANY


def test_null_branches_fold_into_nullable(order: LoadedSchema) -> None:
    note = at(order, "note")
    assert (note.kind, note.nullable) == (Kind.STRING, True)
    maybe = at(order, "maybe_line")
    assert (maybe.kind, maybe.nullable, maybe.name) == (Kind.OBJECT, True, "Line")
    assert at(order, "maybe_line.sku").kind is Kind.STRING
    mode = at(order, "mode")
    assert (mode.kind, mode.nullable, mode.enum) == (Kind.STRING, True, ("fast", "slow"))


def test_union_of_several_real_branches(order: LoadedSchema) -> None:
    payment = at(order, "payment")
    assert payment.kind is Kind.UNION
    assert [v.name for v in payment.variants] == ["Card", "Bank"]
    assert not payment.nullable
    assert "payment" in leaves(order)


def test_anchor_ref_and_if_then_else(order: LoadedSchema) -> None:
    assert at(order, "anchor").kind is Kind.NUMBER
    shipped = at(order, "shipped")
    assert list(shipped.properties) == ["at"]  # if/then/else add no fields
    assert at(order, "shipped.at").format == "date-time"


# --- OpenAPI 3.0 YAML: nullable, allOf ------------------------------------------------


@pytest.fixture(scope="module")
def oa30() -> LoadedSchema:
    return load("openapi30.yaml", "Customer")


def test_allof_merges_properties_and_required(oa30: LoadedSchema) -> None:
    root = oa30.root
    assert root.kind is Kind.OBJECT
    assert list(root.properties)[:4] == ["id", "created", "name", "email"]
    assert root.required == frozenset({"id", "name"})
    assert root.description == "A customer."  # the node's own description first
    assert at(oa30, "id").description == "Base id."


def test_openapi30_nullable(oa30: LoadedSchema) -> None:
    assert at(oa30, "name").nullable
    assert not at(oa30, "email").nullable
    assert at(oa30, "email").classification == "pii"


def test_allof_of_one_ref(oa30: LoadedSchema) -> None:
    address = load("openapi30.yaml", "Address").root
    home = at(oa30, "home")  # allOf [ref] + description: the target itself
    assert (home.kind, home.name, home.nullable) == (Kind.OBJECT, "Address", False)
    work = at(oa30, "work")  # allOf [ref] + nullable: "Address or null"
    assert (work.kind, work.name, work.nullable) == (Kind.OBJECT, "Address", True)
    assert list(work.properties) == list(address.properties)
    assert at(oa30, "work.city").kind is Kind.STRING


def test_single_branch_anyof_wrappers_unwrap(oa30: LoadedSchema) -> None:
    billing = at(oa30, "billing")  # Stripe: anyOf [{$ref}] + nullable
    assert (billing.kind, billing.name, billing.nullable) == (Kind.OBJECT, "Address", True)
    currency = at(oa30, "currency")  # Stripe: anyOf [{maxLength, type: string}] + nullable
    assert (currency.kind, currency.nullable) == (Kind.STRING, True)
    nick = at(oa30, "nick")  # oneOf [string, {nullable: true}]
    assert (nick.kind, nick.nullable) == (Kind.STRING, True)


def test_enum_with_null(oa30: LoadedSchema) -> None:
    color = at(oa30, "color")
    assert (color.enum, color.nullable) == (("red", "green"), True)


def test_read_only_write_only(oa30: LoadedSchema) -> None:
    assert at(oa30, "secret_token").write_only
    assert at(oa30, "version").read_only


def test_allof_nullable_only_if_all_say_so(oa30: LoadedSchema) -> None:
    assert not at(oa30, "both").nullable
    assert at(oa30, "both_nullable").nullable


def test_allof_cycle_is_guarded() -> None:
    loaded = load("openapi30.yaml", "CycleA")
    assert set(loaded.root.properties) == {"a", "b"}


# --- OpenAPI 3.1 JSON: type lists ----------------------------------------------------


@pytest.fixture(scope="module")
def oa31() -> LoadedSchema:
    return load("openapi31.json", "Account")


def test_type_lists(oa31: LoadedSchema) -> None:
    nickname = at(oa31, "nickname")
    assert (nickname.kind, nickname.nullable) == (Kind.STRING, True)
    code = at(oa31, "code")
    assert code.kind is Kind.UNION and not code.nullable
    assert [v.kind for v in code.variants] == [Kind.STRING, Kind.INTEGER]
    score = at(oa31, "score")
    assert score.kind is Kind.UNION and score.nullable
    assert [v.kind for v in score.variants] == [Kind.NUMBER, Kind.STRING]
    assert score.classification == "internal"
    assert at(oa31, "nothing").kind is Kind.NULL


def test_const_and_ref_siblings_31(oa31: LoadedSchema) -> None:
    assert at(oa31, "status").enum == ("open",)
    owner = at(oa31, "owner")
    assert (owner.kind, owner.read_only, owner.name) == (Kind.OBJECT, True, "Owner")
    assert owner.description == "3.1 allows siblings"
    assert at(oa31, "id").format == "uuid"
    assert oa31.root.required == frozenset({"id"})


# --- content decides the format ------------------------------------------------------


def test_yaml_in_a_json_file_and_json_in_a_yaml_file() -> None:
    assert at(load("yaml_named_json.json"), "a").kind is Kind.STRING
    assert at(load("json_named_yaml.yaml"), "a").kind is Kind.INTEGER


# --- recursion -----------------------------------------------------------------------


def test_recursive_schema_is_a_cycle_of_the_same_node() -> None:
    loaded = load("tree.schema.json", "Node")
    node = loaded.root
    assert node.name == "Node"
    assert node.source.endswith("tree.schema.json#/definitions/Node")
    children = node.properties["children"]
    assert children.kind is Kind.ARRAY and children.items is node
    assert node.properties["parent"] is node
    assert node.properties["wrapped"] is node  # allOf [ref] with a description
    assert leaves(loaded) == {"value": False, "children": True, "parent": True, "wrapped": True}


def test_mutual_recursion() -> None:
    loaded = load("tree.schema.json", "Person")
    company = at(loaded, "employer")
    assert company.name == "Company"
    assert at(loaded, "employer.ceo") is loaded.root
    assert leaves(loaded) == {"name": False, "employer.title": False, "employer.ceo": True}


def test_alias_definition_is_its_target() -> None:
    assert load("tree.schema.json", "Alias").root.name == "Node"


# --- recursion hubs keep listings small ---------------------------------------------


@pytest.fixture(scope="module")
def hubs() -> LoadedSchema:
    return load("hubs.schema.json")


def test_hub_is_listed_once_and_reused_types_in_full(hubs: LoadedSchema) -> None:
    found = leaves(hubs)
    # Period is reused, not recursive by itself: listed in full every time.
    for prefix in ("name[].period", "valid", "extension[].valuePeriod"):
        assert found[f"{prefix}.start"] is False
    # Extension ties the recursion together: opened at its shallowest place only.
    assert found["extension[].url"] is False
    assert found["name[].extension"] is True
    assert found["valid.extension"] is True
    assert found["extension[].extension"] is True
    assert at(hubs, "extension").items is at(hubs, "valid.extension").items


def test_walk_below_the_root_agrees_with_the_full_walk(hubs: LoadedSchema) -> None:
    full = [leaf.path for leaf in iter_leaves(hubs.root)]
    valid = at(hubs, "valid")
    part = [leaf.path for leaf in iter_leaves(valid, ("valid",))]
    assert part == [p for p in full if p[0] == "valid"]
    # A hub met where it is not opened is one recursive leaf, also when a walk starts there.
    extension = at(hubs, "valid.extension[]")
    held = list(iter_leaves(extension, ("valid", "extension", ARRAY)))
    assert [(leaf.path, leaf.recursive) for leaf in held] == [(("valid", "extension"), True)]
    opened = list(iter_leaves(extension, ("extension", ARRAY)))
    assert len(opened) > 1


# --- model selection -----------------------------------------------------------------


def test_model_lookup_order_and_names() -> None:
    assert load("openapi30.yaml", "Address").root.name == "Address"
    assert load("tree.schema.json", "Company").root.name == "Company"
    assert load("defs_2020.json", "Line").root.name == "Line"


def test_unknown_model_lists_available_names() -> None:
    with pytest.raises(SchemaError) as err:
        load("openapi30.yaml", "Nope")
    assert "model 'Nope' not found" in err.value.message
    assert err.value.hint == "available models: Base, Address, Customer, CycleA, CycleB"
    assert err.value.file == FIXTURES / "openapi30.yaml"


def test_openapi_without_model_is_an_error() -> None:
    with pytest.raises(SchemaError) as err:
        load("openapi30.yaml", None)
    assert "name a model" in err.value.message
    assert "Customer" in err.value.hint


# --- errors --------------------------------------------------------------------------


def test_missing_ref_file() -> None:
    path = FIXTURES / "errors" / "missing_file.json"
    with pytest.raises(SchemaError) as err:
        load_schema(path, None)
    exc = err.value
    assert "nowhere/missing.json#/definitions/X" in exc.message
    assert "not found" in exc.message
    assert exc.file == path
    assert (exc.line, exc.col) == (5, 19)  # the $ref value
    assert str(exc).startswith(f"{path}:5:19: ")


def test_bad_pointer() -> None:
    with pytest.raises(SchemaError) as err:
        load("errors/bad_pointer.json")
    assert "'#/definitions/Nope'" in err.value.message
    assert "nothing at '/definitions/Nope'" in err.value.message
    assert err.value.hint == "keys there: Yes"
    assert err.value.line == 4


def test_bad_pointer_in_another_file() -> None:
    with pytest.raises(SchemaError) as err:
        load("errors/bad_pointer_other.json")
    assert "../common/types.json#/definitions/Fax" in err.value.message
    assert err.value.file == FIXTURES / "errors" / "bad_pointer_other.json"
    assert "E164, Email, Phone" in err.value.hint


def test_remote_ref() -> None:
    with pytest.raises(SchemaError) as err:
        load("errors/remote.yaml")
    assert err.value.message.startswith("remote $ref not supported; vendor the schema")
    assert "https://example.com/schemas/thing.json" in err.value.message
    assert err.value.line == 4


def test_missing_schema_file() -> None:
    with pytest.raises(SchemaError) as err:
        load("errors/does-not-exist.json")
    assert err.value.message == "schema file not found"


@pytest.mark.parametrize(
    ("name", "message", "line"),
    [
        ("errors/syntax.json", "not valid JSON", 4),
        ("errors/syntax.yaml", "not valid YAML or JSON", 4),
        ("errors/list.yaml", "not a schema", 1),
    ],
)
def test_unreadable_documents(name: str, message: str, line: int) -> None:
    with pytest.raises(SchemaError) as err:
        load(name)
    assert err.value.message.startswith(message)
    assert err.value.line == line


def test_ref_loop_without_a_schema() -> None:
    with pytest.raises(SchemaError) as err:
        load("errors/ref_loop.json")
    assert "$ref cycle" in err.value.message


def test_error_in_a_referenced_file_points_at_that_file(tmp_path: Path) -> None:
    (tmp_path / "main.json").write_text('{"properties": {"a": {"$ref": "other.json"}}}')
    (tmp_path / "other.json").write_text('{"type": "object",\n "properties": {,}}')
    with pytest.raises(SchemaError) as err:
        load_schema(tmp_path / "main.json", None)
    assert err.value.file == tmp_path / "other.json"
    assert err.value.line == 2


def test_a_required_field_that_is_never_declared_is_an_untyped_field(tmp_path: Path) -> None:
    """Box's shared_link requires `accessed` without declaring it. Dropping the name
    let check pass a copy the shim's own external schema then refused (422 on every
    record with a shared link); as an untyped required field, a copy is refused (SG106)
    and an external side asks for a source (SG105)."""
    import json

    from shimgen.check import check_mapping
    from shimgen.diagnostics import Code

    link = {
        "type": "object",
        "required": ["url", "accessed"],
        "properties": {"url": {"type": "string"}},
    }
    schema = {"$defs": {"R": {"type": "object", "properties": {"link": link}}}}
    (tmp_path / "s.json").write_text(json.dumps(schema))
    node = load_schema(tmp_path / "s.json", "R").root.properties["link"]
    assert list(node.properties) == ["url", "accessed"]
    assert node.properties["accessed"].kind is Kind.ANY and node.required == {"url", "accessed"}

    mapping = tmp_path / "m.shim.yaml"
    head = "shim: x\nversion: 1\nowner: o\ninternal: {schema: s.json, model: R}\nexternal: {schema: s.json, model: R}\n"
    mapping.write_text(head + "fields: {link: pass}\n")
    assert {f.code for f in check_mapping(mapping).findings} == {Code.TYPE_MISMATCH}
    mapping.write_text(head + "fields: {link.url: pass, link.accessed: drop}\n")
    assert {f.code for f in check_mapping(mapping).findings} == {Code.REQUIRED_UNSOURCED}
