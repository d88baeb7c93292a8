"""``shimgen lint``: a Spectral-style rule engine over checked mappings.

- :mod:`.model` severities, rules, findings; :mod:`.registry` the rule table
- :mod:`.rules_safety`, :mod:`.rules_style`, :mod:`.rules_version` the rules
- :mod:`.rulesets` built-in rulesets and ruleset files; :mod:`.settings` one
  rule setting; :mod:`.overrides` per-file and per-location exemptions
- :mod:`.engine` runs a ruleset over a mapping
- :mod:`.output` text and JSON, :mod:`.sarif` SARIF 2.1.0 for code scanning

Rules are documented in ``docs/lint.md``.
"""

from __future__ import annotations

from shimgen.lint.engine import LintResult, lint_mapping
from shimgen.lint.gitbase import BaseError
from shimgen.lint.model import Exemption, LintFinding, LintRule, Severity
from shimgen.lint.registry import all_rules
from shimgen.lint.rulesets import BUILTIN, Ruleset, RulesetError, builtin, load_ruleset

__all__ = [
    "BUILTIN",
    "BaseError",
    "Exemption",
    "LintFinding",
    "LintResult",
    "LintRule",
    "Ruleset",
    "RulesetError",
    "Severity",
    "all_rules",
    "builtin",
    "lint_mapping",
    "load_ruleset",
]
