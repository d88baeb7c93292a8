"""The review report model: numbers verified by hand against mappings/customer.shim.yaml."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.diagnostics import Code, Finding, Severity
from shimgen.review import NO_GROUP, build_report
from shimgen.review.model import Cell, categories
from shimgen.review.render import render_report
from shimgen.treatments import REGISTRY
from tests.expected import ROOT
from tests.review_support import example


def test_every_treatment_has_a_category() -> None:
    listed = [name for _, names, _ in categories() for name in names]
    assert sorted(listed) == sorted(REGISTRY)  # each treatment in exactly one review category


def test_customer_header() -> None:
    result = example("customer")
    report = build_report(result)
    assert (report.name, report.version, report.owner) == ("customer", 5, "payments-platform")
    assert report.description == "Customer records handed from payments to partner-facing apps."
    assert report.mapping_sha256 == result.loaded.sha256
    # from where the mapping's path starts, as the mapping's own path is shown
    assert report.internal.path == str(
        Path(report.mapping_path).parent / "schemas" / "customer.internal.json"
    )
    assert report.internal.model == "Customer"
    assert report.external.model == "PartnerCustomer"
    assert result.plan is not None
    assert report.internal.sha256 == result.plan.internal.sha256
    assert report.external.sha256 == result.plan.external.sha256
    assert [v.name for v in report.views] == ["support", "billing", NO_GROUP]


def test_customer_summary_counts() -> None:
    report = build_report(example("customer"))
    counts = {c.category: (c.by_default, *c.by_view) for c in report.counts}
    # default, support, billing, no group
    assert counts == {
        "passed": (2, 3, 2, 2),  # name.given, name.family (+ email for support)
        "tokenized": (1, 1, 1, 1),  # id
        "mapped": (1, 1, 1, 1),  # status
        "generalised": (1, 1, 1, 1),  # birth_date -> year
        "masked": (3, 1, 3, 2),  # email, phone, cards[].number
        "hashed": (0, 0, 0, 0),
        "redacted": (0, 0, 0, 0),
        "dropped": (3, 4, 3, 4),  # ssn, cards[].cvv, risk_score (+ cards[].number)
    }
    assert report.total_fields == 11
    for column in zip(*counts.values(), strict=True):
        assert sum(column) == 11


def test_customer_overrides() -> None:
    report = build_report(example("customer"))
    got = [(o.internal, o.group, o.default, o.treatment, o.looser) for o in report.overrides]
    assert got == [
        ("email", "support", "mask_email", "pass", True),
        ("cards[].number", "support", "last4", "drop", False),
    ]


def test_customer_sensitive_fields_and_where_they_go() -> None:
    report = build_report(example("customer"))
    sensitive = {f.internal: f for f in report.sensitive}
    assert list(sensitive) == [
        "email",
        "phone",
        "ssn",
        "name.given",
        "name.family",
        "birth_date",
        "cards[].number",
        "cards[].cvv",
    ]
    assert sensitive["ssn"].classification == "secret"
    assert sensitive["email"].classification == "pii"
    assert sensitive["email"].cells == (
        Cell("pass", "passed", "contact.email", False),
        Cell("mask_email", "masked", "contact.email", False),
        Cell("mask_email", "masked", "contact.email", False),
    )
    assert sensitive["cards[].number"].cells == (
        Cell("drop", "dropped", "", False),
        Cell("last4", "masked", "paymentMethods[].last4", False),
        Cell("drop", "dropped", "", False),
    )
    assert report.unjustified == ()  # every sensitive field that leaves says why


def test_sensitive_fields_leaving_without_why_are_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "mappings" / "schemas", tmp_path / "schemas")
    text = (ROOT / "mappings" / "customer.shim.yaml").read_text(encoding="utf-8")
    for key in ("phone", "birth_date"):  # flow-style rules: `key: {..., why: "..."}`
        line = next(ln for ln in text.splitlines() if ln.startswith(f"  {key}:"))
        text = text.replace(line, re.sub(r', why: "[^"]*"', "", line))
    (tmp_path / "c.shim.yaml").write_text(text, encoding="utf-8")
    result = check_mapping(tmp_path / "c.shim.yaml")
    assert result.plan is not None, [f.format() for f in result.findings]
    assert build_report(result).unjustified == ("phone", "birth_date")


def test_customer_matrix_rows() -> None:
    report = build_report(example("customer"))
    assert [f.internal for f in report.fields][:3] == ["id", "email", "phone"]
    assert len(report.fields) == 11
    row = report.fields[0]
    assert row.default == "tokenize"
    assert all(c == Cell("tokenize", "tokenized", "customerId", True) for c in row.cells)


def test_customer_derived_inbound_routes() -> None:
    report = build_report(example("customer"))
    derived = {d.external: d for d in report.derived}
    assert derived["displayName"].reads == ("name.given", "name.family")
    assert derived["displayName"].sensitive_reads == ("name.given", "name.family")
    assert derived["displayName"].emitted == (True, True, True)
    assert derived["region"].reads == ()
    assert derived["region"].how == "constant 'eu'"
    assert [(i.external, i.internal, i.views) for i in report.inbound] == [
        ("customerId", "id", ("support", "billing", NO_GROUP)),
        ("status", "status", ("support", "billing", NO_GROUP)),
    ]
    assert [(r.external, r.internal, r.groups) for r in report.routes] == [
        ("GET /customers/{customerId}", "GET /internal/customers/{id}", ("support", "billing")),
        ("PATCH /customers/{customerId}", "PATCH /internal/customers/{id}", ("support",)),
    ]
    assert report.routes[0].query == ("expand",)
    assert report.routes[0].params == ("customerId → id (tokenize reversed)",)
    assert (
        report.upstream
        == "base URL from the environment variable CUSTOMER_UPSTREAM_URL, timeout 5 s"
    )


def test_customer_justifications() -> None:
    report = build_report(example("customer"))
    why = {j.subject: j.text for j in report.justifications if j.kind == "why"}
    assert why["cards[].cvv"] == "PCI DSS forbids storing or forwarding the CVV"
    assert why["displayName"].startswith("same information")
    notes = [j.subject for j in report.justifications if j.kind == "note"]
    assert notes == ["region"]


def test_orders_and_hr_counts() -> None:
    report = build_report(example("orders"))
    orders = {c.category: (c.by_default, *c.by_view) for c in report.counts}
    # default, customer-portal, accounting (+ address lines and full postcode), no group
    assert orders["passed"] == (13, 13, 16, 13)
    assert orders["dropped"] == (6, 6, 4, 6)
    hr = build_report(example("hr"))
    counts = {c.category: (c.by_default, *c.by_view) for c in hr.counts}
    # default, directory, hr-ops, payroll, it-provisioning, payroll-corrections, no group
    assert counts["dropped"] == (12, 12, 7, 9, 11, 9, 13)
    assert counts["hashed"] == (1, 1, 1, 1, 1, 1, 1)
    assert len(hr.sensitive) == 15  # work_email is pii too
    assert hr.routes == () and hr.upstream == ""


def test_an_elevation_lists_exactly_what_it_reveals_beyond_its_standing_group() -> None:
    """What an approver approves: payroll-corrections over payroll, field by field."""
    (row,) = build_report(example("hr")).elevated
    assert (row.group, row.beyond, row.max_duration, row.approvals) == (
        "payroll-corrections", "payroll", "4h", 1,
    )  # fmt: skip
    assert (row.approvers, row.max_holders, row.excludes, row.break_glass) == (
        ("hr-ops",), "2", ("it-provisioning",), "30m",
    )  # fmt: skip
    got = {(f.internal, f.ordinary, f.elevated) for f in row.exposes}
    # currency and bic pass to payroll already: the grant adds nothing there
    assert got == {
        ("salary.amount", "round(digits=-3)", "pass"),
        ("bank_account.iban", "mask(keep_last=4)", "pass"),
    }
    assert {f.classification for f in row.exposes} == {"secret"}
    assert build_report(example("customer")).elevated == ()


def test_every_tracking_detection_is_listed_with_its_effect(tmp_path: Path) -> None:
    """A reviewer sees what is only logged, not just what is denied."""
    rows = build_report(example("hr")).tracking
    assert [(t.kind, t.effect, t.default) for t in rows] == [
        (kind, "log", True)
        for kind in (
            "volume",
            "enumeration",
            "first-use",
            "probing",
            "mass-assignment",
            "off-hours",
        )
    ]
    text = (ROOT / "mappings" / "hr.shim.yaml").read_text(encoding="utf-8")
    (tmp_path / "schemas").symlink_to(ROOT / "mappings" / "schemas")
    path = tmp_path / "hr.shim.yaml"
    path.write_text(text + "\ntracking: {enumeration: deny, probing: flag}\n", encoding="utf-8")
    rows = build_report(check_mapping(path)).tracking
    got = {t.kind: (t.effect, t.default, t.noticed) for t in rows}
    assert got["enumeration"] == ("deny", False, "403 (tracking-denied) on every request")
    assert got["probing"][:2] == ("flag", False) and "Shim-Flag" in got["probing"][2]
    assert got["volume"][:2] == ("log", True)


def test_the_review_says_what_every_tracking_effect_does() -> None:
    from typing import get_args

    from shimgen.mapping.model import TrackingEffect
    from shimgen.review.tracking import _NOTICED

    assert set(_NOTICED) == set(get_args(TrackingEffect))


def test_the_review_says_what_opens_every_tracking_incident() -> None:
    """A reviewer reads what `probing` or `first-use` watches without opening access.md."""
    from typing import get_args

    from shimgen.mapping.model import TrackingKind
    from shimgen.review.tracking import _WATCHES

    assert set(_WATCHES) == set(get_args(TrackingKind))
    assert all(t.watches for t in build_report(example("hr")).tracking)


def test_an_elevation_without_beyond_is_compared_with_no_group(tmp_path: Path) -> None:
    text = (ROOT / "mappings" / "hr.shim.yaml").read_text(encoding="utf-8")
    (tmp_path / "schemas").symlink_to(ROOT / "mappings" / "schemas")
    path = tmp_path / "hr.shim.yaml"
    path.write_text(text.replace("      beyond: payroll\n", ""), encoding="utf-8")
    (row,) = build_report(check_mapping(path)).elevated
    assert row.beyond == "no group"
    got = {(f.internal, f.ordinary) for f in row.exposes}
    assert ("salary.amount", "drop") in got and ("bank_account.bic", "drop") in got
    assert ("skills", "drop") not in {(f.internal, f.ordinary) for f in row.exposes}


def test_warnings_are_reported_and_errors_refused() -> None:
    result = example("customer")
    warning = Finding(
        Code.BAD_CLASSIFICATION, "a warning", result.loaded.path, 3, 1, severity=Severity.WARNING
    )
    result = dataclasses.replace(result, findings=[*result.findings, warning])
    assert build_report(result).warnings == (warning.format(),)
    with pytest.raises(ValueError, match="errors"):
        build_report(dataclasses.replace(result, plan=None))


def test_an_elevation_lists_the_routes_it_opens(tmp_path: Path) -> None:
    """Write access is exposure too: a route the grant opens beyond billing is listed."""
    text = (ROOT / "mappings" / "customer.shim.yaml").read_text(encoding="utf-8")
    (tmp_path / "schemas").symlink_to(ROOT / "mappings" / "schemas")
    text = text.replace(
        "  billing: Billing operations - payment data, masked contact details\n",
        "  billing: Billing operations - payment data, masked contact details\n"
        "  fraud-review:\n    description: Fraud review of accounts\n    elevated:\n"
        "      {max_duration: 2h, approvals: 2, approvers: [support], beyond: billing}\n",
    ).replace("    groups: [support]\n", "    groups: [support, fraud-review]\n")
    path = tmp_path / "customer.shim.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_mapping(path)
    assert result.plan is not None, [f.format() for f in result.findings]
    (row,) = build_report(result).elevated
    assert row.routes == ("PATCH /customers/{customerId}",)  # the GET is billing's already
    md = render_report(build_report(result), "md")
    assert (
        "Proxy routes the grant opens that billing may not call: `PATCH /customers/{customerId}`"
        in md
    )


def test_a_classification_the_mapping_lowers_is_shown_beside_the_schemas(tmp_path: Path) -> None:
    """`classification: {phone: internal}` over the schema's pii took phone out of
    "Personal and secret data" with nothing in the report to say so (reviewer walk);
    the report now lists each entry that says other than the schema, marking lowered ones."""
    shutil.copytree(ROOT / "mappings" / "schemas", tmp_path / "schemas")
    text = (ROOT / "mappings" / "customer.shim.yaml").read_text(encoding="utf-8")
    text = text.replace("classification:\n", "classification:\n  phone: internal\n", 1)
    (tmp_path / "c.shim.yaml").write_text(text, encoding="utf-8")
    result = check_mapping(tmp_path / "c.shim.yaml")
    assert result.plan is not None, [f.format() for f in result.findings]
    report = build_report(result)
    [row] = report.reclassified
    assert (row.internal, row.schema, row.mapping, row.lowered) == (
        "phone",
        "pii",
        "internal",
        True,
    )
    assert "phone" not in [f.internal for f in report.sensitive]
    md = render_report(report, "md")
    assert "| `phone` | pii | internal (**lowered**) |" in md
    assert "<strong>(lowered)</strong>" in render_report(report, "html")


def test_the_examples_reclassify_only_what_they_say() -> None:
    """customer's entries repeat the schema (nothing listed); orders raises its notes."""
    assert build_report(example("customer")).reclassified == ()
    [row] = build_report(example("orders")).reclassified
    assert (row.internal, row.schema, row.mapping, row.lowered) == (
        "internal_notes",
        "",
        "pii",
        False,
    )
