"""Elevated groups in the mapping: checked (SG128, SG110), planned, rendered for the
service with excludes closed both ways, and diffed as loosening when relaxed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.check.plan import Elevation
from shimgen.diagnostics import Code
from shimgen.diff import Kind
from shimgen.mapping.model import duration_seconds
from shimgen.render.servicespec import elevated_views
from tests.diff_support import diff_files, only, variant
from tests.expected import ROOT

ELEVATED = """\
  fraud-review:
    description: Fraud investigations - full card data, only under a grant
    elevated:
      max_duration: 4h
      approvals: 2
      approvers: [support]
      max_holders: 1
      excludes: [billing]
      break_glass: 15m
"""
GROUPS = "  billing: Billing operations\n"


def with_elevation(tmp: Path, name: str = "elevated", block: str = ELEVATED) -> Path:
    return variant(tmp, name, (GROUPS, GROUPS + block))


def test_the_plan_holds_each_rule_in_seconds(tmp_path: Path) -> None:
    result = check_mapping(with_elevation(tmp_path))
    assert result.exit_code == 0, [f.format() for f in result.findings]
    assert result.plan is not None
    assert result.plan.elevated == {
        "fraud-review": Elevation(
            max_seconds=4 * 3600,
            approvals=2,
            approvers=("support",),
            max_holders=1,
            excludes=("billing",),
            break_glass_seconds=15 * 60,
        )
    }
    assert result.plan.groups["fraud-review"].startswith("Fraud investigations")


def test_the_service_gets_excludes_closed_both_ways(tmp_path: Path) -> None:
    """Separation of duty is symmetric: a billing grant would exclude fraud-review too."""
    result = check_mapping(with_elevation(tmp_path))
    assert result.plan is not None
    (view,) = elevated_views(result.plan)
    assert (view.group, view.excludes, view.approvers) == (
        "fraud-review",
        ("billing",),
        ("support",),
    )
    hr = check_mapping(ROOT / "mappings" / "hr.shim.yaml").plan
    assert hr is not None
    (payroll,) = elevated_views(hr)
    assert payroll.excludes == ("it-provisioning",)
    assert (view.beyond, payroll.beyond) == (None, "payroll")  # the service checks callers with it


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (("approvers: [support]", "approvers: [security]"), Code.UNDECLARED_GROUP, "`security`"),
        (("excludes: [billing]", "excludes: [payroll]"), Code.UNDECLARED_GROUP, "`payroll`"),
        (("max_duration: 4h", "max_duration: 30s"), Code.BAD_ELEVATION, "30s; it must be 1m"),
        (("max_duration: 4h", "max_duration: 86401"), Code.BAD_ELEVATION, "86401s"),
        (("break_glass: 15m", "break_glass: 5h"), Code.BAD_ELEVATION, "break_glass"),
    ],
    ids=["undeclared-approver", "undeclared-exclude", "too-short", "too-long", "long-break-glass"],
)
def test_a_bad_elevation_is_a_finding_at_its_value(
    tmp_path: Path, edit: tuple[str, str], code: Code, message: str
) -> None:
    path = with_elevation(tmp_path, block=ELEVATED.replace(*edit))
    result = check_mapping(path)
    assert result.plan is None
    (finding,) = result.findings
    assert finding.code is code and message in finding.message, finding.format()
    line = path.read_text(encoding="utf-8").splitlines()[finding.line - 1]
    assert edit[1].split(":")[0].strip() in line


def test_break_glass_may_not_outlast_the_grant(tmp_path: Path) -> None:
    block = ELEVATED.replace("max_duration: 4h", "max_duration: 10m")
    result = check_mapping(with_elevation(tmp_path, block=block))
    assert [f.code for f in result.findings] == [Code.BAD_ELEVATION]
    assert "1m to 10m" in result.findings[0].message


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("max_duration: 4 hours", "write a duration as 90s, 30m, 4h or a whole number of seconds"),
        ("max_duration: 1d", "not '1d'"),
        ("max_duration: 4H", "not '4H'"),
        ("max_duration: 4.5h", "not '4.5h'"),
        ("break_glass: true", "not True"),
        ("approvals: 0", "greater than or equal to 1"),
        ("max_holders: 0", "greater than or equal to 1"),
    ],
)
def test_the_format_refuses_what_is_not_a_duration_or_count_at_the_value(
    tmp_path: Path, bad: str, message: str
) -> None:
    key = bad.split(":")[0]
    block = "\n".join(
        f"      {bad}" if line.strip().startswith(f"{key}:") else line
        for line in ELEVATED.splitlines()
    )
    path = with_elevation(tmp_path, block=block + "\n")
    result = check_mapping(path)
    (finding,) = result.findings
    assert finding.code is Code.BAD_STRUCTURE and message in finding.message, finding.format()
    assert finding.message.startswith(f"groups.fraud-review.elevated.{key}: ")
    line = path.read_text(encoding="utf-8").splitlines()[finding.line - 1]
    assert line.strip() == bad and finding.col == line.index(":") + 3, finding.format()
    assert "max_duration: 4h" in finding.hint


@pytest.mark.parametrize("empty", ["    elevated:\n", "    elevated: null\n", "    elevated: ~\n"])
def test_an_empty_elevated_key_is_refused_not_read_as_standing(tmp_path: Path, empty: str) -> None:
    """Commenting out an elevation's rules must not quietly give its members standing access."""
    block = "  fraud-review:\n    description: Fraud investigations\n" + empty
    result = check_mapping(with_elevation(tmp_path, block=block))
    assert result.plan is None
    (finding,) = result.findings
    assert finding.code is Code.BAD_STRUCTURE
    assert "`elevated:` is empty" in finding.message, finding.format()


@pytest.mark.parametrize(("text", "total"), [("90s", 90), ("30m", 1800), ("4h", 14400), (600, 600)])
def test_durations(text: str | int, total: int) -> None:
    assert duration_seconds(text) == total


# -- diff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "kind", "reason"),
    [
        (
            ("max_duration: 4h", "max_duration: 8h"),
            Kind.LOOSENED,
            "max_duration 4h → 8h: the longest a grant may last",
        ),
        (
            ("approvals: 2", "approvals: 1"),
            Kind.LOOSENED,
            "approvals 2 → 1: how many approvers must agree before a grant starts",
        ),
        (
            ("max_holders: 1", "max_holders: 3"),
            Kind.LOOSENED,
            "max_holders 1 → 3: how many callers may hold a grant at the same time",
        ),
        (
            ("      max_holders: 1\n", ""),
            Kind.LOOSENED,
            "max_holders 1 → no cap: how many callers may hold a grant at the same time",
        ),
        (
            ("break_glass: 15m", "break_glass: 30m"),
            Kind.LOOSENED,
            "break_glass 15m → 30m: how long an emergency grant taken without any approval may last",
        ),
        (
            ("      break_glass: 15m\n", ""),
            Kind.TIGHTENED,
            "break_glass 15m → none: how long an emergency grant taken without any approval may last",
        ),
        (
            ("excludes: [billing]", "excludes: []"),
            Kind.LOOSENED,
            "no longer excludes billing: while holding a grant, a caller may now also act in billing",
        ),
        (
            ("approvals: 2", "approvals: 3"),
            Kind.TIGHTENED,
            "approvals 2 → 3: how many approvers must agree before a grant starts",
        ),
        (
            ("approvers: [support]", "approvers: [support, billing]"),
            Kind.LOOSENED,
            "approvers gain billing: more people may approve",
        ),
    ],
)
def test_diff_classifies_each_rule_change(
    tmp_path: Path, edit: tuple[str, str], kind: Kind, reason: str
) -> None:
    old = with_elevation(tmp_path, "old")
    new = with_elevation(tmp_path, "new", ELEVATED.replace(*edit))
    changes = only(diff_files(old, new), "group fraud-review")
    assert [(c.kind, c.reason) for c in changes] == [(kind, f"elevation {reason}")]
    key = reason.split()[0] if reason.split()[0] != "no" else "excludes"
    lines = new.read_text(encoding="utf-8").splitlines()
    if f"{key}:" in new.read_text(encoding="utf-8"):  # a removed key: the group's line instead
        assert lines[changes[0].line - 1].strip().startswith(f"{key}:"), changes[0]


def test_diff_approvers_swapped_is_both_a_gain_and_a_loss(tmp_path: Path) -> None:
    """Other people vouch: a reviewer must look, so the gain is loosened (red-team, eighth
    pass: it was neutral), the loss tightened."""
    old = with_elevation(tmp_path, "old")
    new = with_elevation(
        tmp_path, "new", ELEVATED.replace("approvers: [support]", "approvers: [billing]")
    )
    changes = only(diff_files(old, new), "group fraud-review")
    assert [(c.kind, c.reason) for c in changes] == [
        (Kind.LOOSENED, "elevation approvers gain billing: more people may approve"),
        (Kind.TIGHTENED, "elevation approvers lose support"),
    ]


def test_diff_an_elevation_removed_is_loosening_and_added_tightening(tmp_path: Path) -> None:
    elevated = with_elevation(tmp_path, "old")
    standing = with_elevation(
        tmp_path,
        "new",
        "  fraud-review: Fraud investigations - full card data, only under a grant\n",
    )
    (removed,) = only(diff_files(elevated, standing), "group fraud-review")
    assert removed.kind is Kind.LOOSENED and "without a grant" in removed.reason
    (added,) = only(diff_files(standing, elevated), "group fraud-review")
    assert added.kind is Kind.TIGHTENED


def test_diff_a_new_elevated_group_says_so(tmp_path: Path) -> None:
    old = variant(tmp_path, "plain")
    (change,) = only(diff_files(old, with_elevation(tmp_path, "new")), "group fraud-review")
    assert change.kind is Kind.LOOSENED, change
    assert change.reason.endswith("; elevated: callers listed for it act in it only under a grant")
