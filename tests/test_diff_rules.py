"""Each classification rule of ``shimgen diff`` on a small variant of the fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.diff import Kind
from tests.diff_support import diff_files, internal_schema, kinds, only, variant

L, T, N = Kind.LOOSENED, Kind.TIGHTENED, Kind.NEUTRAL

ROUTES = """
upstream: {url_env: PERSON_UPSTREAM_URL}
routes:
  - external: GET /people/{personId}
    internal: GET /internal/people/{id}
    groups: [support]
    query: [expand]
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return variant(tmp_path, "base")


def both_ways(
    tmp: Path, base: Path, subject: str, *edits: tuple[str, str]
) -> tuple[set[Kind], set[Kind]]:
    """Kinds of the changes to ``subject`` for base → variant and variant → base."""
    other = variant(tmp, "other", *edits)
    return kinds(diff_files(base, other), subject), kinds(diff_files(other, base), subject)


# treatment changes: (field, old text, new text, kind of old → new)
TREATMENTS = [
    ("notes", "notes:       drop", "notes:       pass", L),  # drop -> anything
    ("notes", "notes:       drop", "notes:       {treat: redact}", L),
    (
        "phone",
        "{treat: {mask: {keep_last: 4}}}",
        "{treat: pass, why: call back}",
        L,
    ),  # mask -> pass
    ("phone", "{treat: {mask: {keep_last: 4}}}", "{treat: hash}", T),
    ("phone", "{treat: {mask: {keep_last: 4}}}", "{treat: {mask: {keep_last: 6}}}", L),
    (
        "phone",
        "{treat: {mask: {keep_last: 4}}}",
        "{treat: {mask: {keep_first: 2, keep_last: 2}}}",
        N,
    ),
    ("phone", "{treat: {mask: {keep_last: 4}}}", "{treat: {mask: {keep_last: 4, char: '#'}}}", N),
    ("phone", "{treat: {mask: {keep_last: 4}}}", "{treat: last4}", T),
    ("phone", "{treat: {mask: {keep_last: 4}}}", "{treat: {prefix: 3}}", L),  # by rank
    ("age", "{bucket: [0, 18, 65]}", "{bucket: [0, 18, 40, 65]}", L),
    ("age", "{bucket: [0, 18, 65]}", "{bucket: [0, 21, 65]}", N),
    ("salary", "{round: -3}", "{round: -2}", L),
    ("birth_date", "{treat: year}", "{treat: month}", L),
    (
        "status",
        "{map: {A: active, S: suspended, X: closed}}",
        "{map: {A: active, S: inactive, X: inactive}}",
        T,
    ),
    (
        "status",
        "{map: {A: active, S: suspended, X: closed}}",
        "{map: {A: open, S: suspended, X: closed}}",
        N,
    ),
]


@pytest.mark.parametrize(("field", "before", "after", "kind"), TREATMENTS)
def test_treatment_change_is_classified_and_mirrors(
    tmp_path: Path, base: Path, field: str, before: str, after: str, kind: Kind
) -> None:
    forward, backward = both_ways(tmp_path, base, f"fields.{field}", (before, after))
    assert kind in forward
    mirror = {L: T, T: L, N: N}[kind]
    assert mirror in backward


def test_hash_to_tokenize_is_loosened(tmp_path: Path) -> None:
    a = variant(
        tmp_path,
        "a",
        (
            "id:          {to: personId, treat: tokenize, inbound: true}",
            "id: {to: personId, treat: hash}",
        ),
    )
    b = variant(
        tmp_path,
        "b",
        (
            "id:          {to: personId, treat: tokenize, inbound: true}",
            "id: {to: personId, treat: tokenize}",
        ),
    )
    [change] = only(diff_files(a, b), "fields.id")
    assert change.kind is L and "token" in change.reason


def test_group_gaining_a_field_is_loosened_for_that_group(tmp_path: Path, base: Path) -> None:
    new = variant(
        tmp_path, "new", ("{treat: {round: -3}, groups: {support: drop}}", "{treat: {round: -3}}")
    )
    [change] = only(diff_files(base, new), "fields.salary")
    # "no group" got the strictest treatment, support's drop; now it gets the rounding too
    assert change.kind is L and change.views == ("support", "no group")
    assert (change.old, change.new) == ("drop", "round(digits=-3)")


def test_group_getting_a_weaker_treatment_is_loosened(tmp_path: Path, base: Path) -> None:
    new = variant(
        tmp_path,
        "new",
        (
            "groups: {support: pass}, why: support",
            "groups: {support: pass, billing: pass}, why: support",
        ),
    )
    [change] = only(diff_files(base, new), "fields.email")
    assert change.kind is L and change.views == ("billing",)


def test_no_group_view_follows_the_strictest_treatment(tmp_path: Path, base: Path) -> None:
    new = variant(
        tmp_path,
        "new",
        (
            "{treat: {round: -3}, groups: {support: drop}}",
            "{treat: {round: -3}, groups: {support: {round: -2}}}",
        ),
    )
    changes = only(diff_files(base, new), "fields.salary")
    assert {(c.views, c.kind) for c in changes} == {(("support",), L), (("no group",), L)}


def test_new_internal_field_that_crosses_is_loosened(tmp_path: Path, base: Path) -> None:
    schema = internal_schema()
    schema["properties"]["nickname"] = {"type": "string"}
    new = variant(tmp_path, "new", internal=schema, append="  # appended\n")
    text = new.read_text().replace(
        "  notes:       drop\n", "  notes:       drop\n  nickname:    pass\n"
    )
    new.write_text(text)
    result = diff_files(base, new)
    [added] = only(result, "fields.nickname")
    assert added.kind is L and added.old is None and "pass" in (added.new or "")
    [removed] = only(diff_files(new, base), "fields.nickname")
    assert removed.kind is T and removed.in_old


def test_new_internal_field_that_is_dropped_is_neutral(tmp_path: Path, base: Path) -> None:
    schema = internal_schema()
    schema["properties"]["nickname"] = {"type": "string"}
    new = variant(
        tmp_path,
        "new",
        ("  notes:       drop\n", "  notes:       drop\n  nickname:    drop\n"),
        internal=schema,
    )
    [added] = only(diff_files(base, new), "fields.nickname")
    assert added.kind is N


def test_split_field_is_compared_with_the_rule_that_covered_it(tmp_path: Path) -> None:
    whole = variant(
        tmp_path,
        "whole",
        (
            "  name.given:  {to: firstName, why: partner apps greet people by name}\n  name.family: {to: lastName, why: partner apps greet people by name}\n",
            "  name: {why: partners need the name}\n",
        ),
        ("from: [name.given, name.family]", "from: [age]"),
        ('template: "{0} {1}"', 'template: "{0}"'),
    )
    split = variant(
        tmp_path,
        "split",
        (
            "  name.given:  {to: firstName, why: partner apps greet people by name}\n  name.family: {to: lastName, why: partner apps greet people by name}\n",
            "  name.given: {why: partners need the name}\n  name.family: drop\n",
        ),
        ("from: [name.given, name.family]", "from: [age]"),
        ('template: "{0} {1}"', 'template: "{0}"'),
    )
    result = diff_files(whole, split)
    assert kinds(result, "fields.name.family") == {T}
    assert not only(result, "fields.name") and not only(result, "fields.name.given")
    assert kinds(diff_files(split, whole), "fields.name.family") == {L}


def test_external_rename_is_neutral(tmp_path: Path, base: Path) -> None:
    new = variant(
        tmp_path,
        "new",
        ("email:       {treat: mask_email", "email:       {to: contactEmail, treat: mask_email"),
    )
    [change] = only(diff_files(base, new), "fields.email")
    assert change.kind is N and (change.old, change.new) == ("email", "contactEmail")


def test_inbound_opened_is_loosened(tmp_path: Path, base: Path) -> None:
    forward, backward = both_ways(
        tmp_path, base, "fields.status", ("closed}}}", "closed}}, inbound: true}")
    )
    assert forward == {L} and backward == {T}


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("{treat: drop, why: never leaves identity}", "{treat: drop}", L),
        ("{treat: drop, why: never leaves identity}", "{treat: drop, why: KYC only}", N),
    ],
)
def test_why(tmp_path: Path, base: Path, before: str, after: str, kind: Kind) -> None:
    forward, backward = both_ways(tmp_path, base, "fields.ssn", (before, after))
    assert forward == {kind}
    assert backward == {N}  # adding a why: is neutral


def test_classification_removed_is_loosened(tmp_path: Path) -> None:
    a = variant(tmp_path, "a", ("groups:\n", "classification: {notes: pii}\n\ngroups:\n"))
    b = variant(tmp_path, "b")
    [change] = only(diff_files(a, b), "fields.notes")
    assert change.kind is L and (change.old, change.new) == ("pii", "unclassified")
    assert kinds(diff_files(b, a), "fields.notes") == {T}


def test_groups_added_removed_described(tmp_path: Path, base: Path) -> None:
    added = variant(
        tmp_path,
        "added",
        (
            "  billing: Billing operations\n",
            "  billing: Billing operations\n  fraud: Fraud review\n",
        ),
    )
    [change] = only(diff_files(base, added), "group fraud")
    assert change.kind is L and "sees" in change.reason
    assert kinds(diff_files(added, base), "group fraud") == {T}
    reworded = variant(tmp_path, "reworded", ("Billing operations", "Billing and refunds"))
    assert kinds(diff_files(base, reworded), "group billing") == {N}


def test_derived_fields(tmp_path: Path, base: Path) -> None:
    gone = variant(
        tmp_path,
        "gone",
        (
            '  displayName: {from: [name.given, name.family], template: "{0} {1}", why: display}\n',
            "",
        ),
    )
    assert kinds(diff_files(base, gone), "derived.displayName") == {T}
    assert kinds(diff_files(gone, base), "derived.displayName") == {L}
    hidden = variant(
        tmp_path, "hidden", ("why: display}", "why: display, groups: {billing: drop}}")
    )
    [change] = only(diff_files(base, hidden), "derived.displayName")
    assert change.kind is T and change.views == ("billing", "no group")
    assert kinds(diff_files(hidden, base), "derived.displayName") == {L}
    const = variant(tmp_path, "const", ("{const: eu}", "{const: us}"))
    assert kinds(diff_files(base, const), "derived.region") == {N}


def test_routes(tmp_path: Path) -> None:
    none = variant(tmp_path, "none")
    one = variant(tmp_path, "one", append=ROUTES)
    assert kinds(diff_files(none, one), "route GET /people/{personId}") == {L}
    assert kinds(diff_files(one, none), "route GET /people/{personId}") == {T}
    wider = variant(
        tmp_path,
        "wider",
        append=ROUTES.replace("[support]", "[support, billing]").replace(
            "[expand]", "[expand, page]"
        ),
    )
    changes = only(diff_files(one, wider), "route GET /people/{personId}")
    assert [c.kind for c in changes] == [L, L]
    assert {c.reason for c in changes} == {
        "group(s) added: billing",
        "query parameter(s) added: page",
    }
    assert {c.kind for c in only(diff_files(wider, one), "route GET /people/{personId}")} == {T}


def test_tracking_effects(tmp_path: Path) -> None:
    """Taking a deny away lets a detected misuse go on: loosened, at the line that did it."""
    none = variant(tmp_path, "none")
    deny = variant(tmp_path, "deny", append="\ntracking: {enumeration: deny, volume: flag}\n")
    weaker = variant(tmp_path, "weaker", append="\ntracking: {enumeration: throttle}\n")
    removed = only(diff_files(deny, none), "tracking enumeration")
    assert [(c.kind, c.old, c.new, c.in_old) for c in removed] == [(L, "deny", "log", True)]
    assert (
        removed[0].line
        == deny.read_text().splitlines().index("tracking: {enumeration: deny, volume: flag}") + 1
    )
    assert kinds(diff_files(none, deny), "tracking volume") == {T}
    changes = diff_files(deny, weaker)
    assert [(c.kind, c.old, c.new) for c in only(changes, "tracking enumeration")] == [
        (L, "deny", "throttle")
    ]
    assert [(c.kind, c.old, c.new) for c in only(changes, "tracking volume")] == [
        (L, "flag", "log")
    ]
    # the reason says what the caller no longer suffers, in the weakened effect's words
    assert "no longer stopped" in removed[0].reason
    assert "no longer marked" in only(changes, "tracking volume")[0].reason
    explicit_log = variant(tmp_path, "log", append="\ntracking: {probing: log}\n")
    assert not [
        c for c in diff_files(none, explicit_log).changes if c.subject.startswith("tracking")
    ]


def test_owner_and_description_are_neutral_and_version_is_reported(
    tmp_path: Path, base: Path
) -> None:
    new = variant(
        tmp_path,
        "new",
        ("owner: identity-team", "owner: platform"),
        ("version: 1", "version: 2"),
        ("(diff fixture).", "(fixture)."),
    )
    result = diff_files(base, new)
    assert {c.subject for c in result.changes} == {"owner", "description"}
    assert {c.kind for c in result.changes} == {N}
    assert "version 1 → 2" in result.verdict() and result.exit_code == 0


def test_a_map_written_in_another_order_is_no_change(tmp_path: Path) -> None:
    """A mapping rewritten with sorted keys (a YAML tool's dump) reordered a `map` table,
    and diff reported "the map's labels changed": a table's order means nothing."""
    new = variant(
        tmp_path,
        "reordered",
        (
            "{map: {A: active, S: suspended, X: closed}}",
            "{map: {X: closed, A: active, S: suspended}}",
        ),
    )
    assert diff_files(variant(tmp_path, "old"), new).changes == []


def test_a_treatment_change_names_the_fields_classification(tmp_path: Path) -> None:
    """`fields.iban: mask → pass` did not say the field was secret: the reviewer weighs a
    change by what the field is, and had to look it up (reviewer walk)."""
    new = variant(
        tmp_path,
        "clear",
        (
            "phone:       {treat: {mask: {keep_last: 4}}}",
            "phone:       {treat: pass, why: call back}",
        ),
    )
    [change] = only(diff_files(variant(tmp_path, "old"), new), "fields.phone", Kind.LOOSENED)
    assert change.reason.endswith("; the field is pii")
