"""``version-bump``: a changed mapping carries a higher ``version:`` than its base.

Generated shims are stamped with the mapping version; two different mappings
with one version make audit records ambiguous. The rule needs ``--base``: a git
revision (usually the target branch in CI) or the previous mapping as a plain
file; without it the rule does not run.
"""

from __future__ import annotations

from collections.abc import Iterator

from shimgen.lint.gitbase import read_at
from shimgen.lint.model import Context, Hit
from shimgen.lint.registry import rule
from shimgen.mapping.yamlpos import YamlError, load_yaml


@rule(
    "version-bump",
    description="A mapping that differs from its `--base` (revision or file) has a greater `version:` (runs only with --base).",
    hint="bump `version:` by one on every change to the mapping",
    safety=False,
    needs_base=True,
)
def version_bump(ctx: Context) -> Iterator[Hit]:
    if ctx.base is None:
        return
    old = read_at(ctx.loaded.path, ctx.base)
    if old is None:  # a new mapping: any version is a first version
        return
    if old == ctx.loaded.path.read_bytes():
        return
    try:
        data = load_yaml(old.decode("utf-8"))  # read like the mapping loader reads it
    except (YamlError, UnicodeDecodeError):
        data = None
    before = data.get("version") if isinstance(data, dict) else None
    if not isinstance(before, int) or isinstance(before, bool):
        return  # the base cannot be compared; the checker judged it back then
    if ctx.plan.version <= before:
        yield Hit(
            f"the mapping changed since {ctx.base} but `version: {ctx.plan.version}` "
            f"is not greater than {before}",
            ("version",),
            value=True,
            hint=f"set `version: {before + 1}`",
        )
