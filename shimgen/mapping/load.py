"""Read a mapping file into a validated :class:`Mapping` plus positions.

Shape errors from pydantic are turned into positioned findings, all of them,
so an author fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from shimgen.diagnostics import Code, Finding, closest, did_you_mean
from shimgen.mapping.model import BARE_NULL, Mapping
from shimgen.mapping.recover import Recovery, recover
from shimgen.mapping.yamlpos import DataPath, Pos, Positions, YamlError, load_with_positions


@dataclass
class LoadedMapping:
    path: Path
    sha256: str = ""
    mapping: Mapping | None = None
    positions: Positions = field(default_factory=Positions)
    findings: list[Finding] = field(default_factory=list)
    unreadable: bool = False  # exit code 2 rather than 1
    # with shape errors: the rest of the file, which the other checks still run on
    recovered: Recovery | None = None

    def at(self, path: DataPath, *, value: bool = False) -> Pos:
        return self.positions.value(path) if value else self.positions.key(path)

    def finding(
        self,
        code: Code,
        message: str,
        path: DataPath,
        hint: str = "",
        *,
        value: bool = False,
        offset: int | None = None,
    ) -> Finding:
        """A finding at the key (or value) at ``path``; ``offset``: at that character of its text."""
        if offset is None:
            pos = self.at(path, value=value)
        else:
            pos = self.positions.inside(path, offset, value=value)
        return Finding(code, message, self.path, pos.line, pos.col, hint)


def load_mapping(path: Path) -> LoadedMapping:
    out = LoadedMapping(path=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        out.unreadable = True
        reason = exc.strerror or str(exc)
        out.findings.append(
            Finding(
                Code.MAPPING_UNREADABLE,
                f"cannot read the mapping file: {reason}",
                path,
                1,
                1,
                "check the path",
            )
        )
        return out
    out.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        data, out.positions, dups = load_with_positions(raw.decode("utf-8"))
    except (YamlError, UnicodeDecodeError) as exc:
        # bad YAML is a finding in a readable file (exit 1); bytes that are not text are not (exit 2)
        out.unreadable = isinstance(exc, UnicodeDecodeError)
        pos = exc.pos if isinstance(exc, YamlError) else Pos(1, 1)
        message = exc.message if isinstance(exc, YamlError) else "not UTF-8 text"
        lines = raw.decode("utf-8", "replace").splitlines()
        line = lines[pos.line - 1] if 0 < pos.line <= len(lines) else ""
        out.findings.append(
            Finding(
                Code.YAML_SYNTAX,
                f"invalid YAML: {message}",
                path,
                pos.line,
                pos.col,
                yaml_hint(message, line, pos.col),
            )
        )
        return out
    for dup in dups:
        out.findings.append(
            Finding(
                Code.DUPLICATE_KEY,
                f"`{dup.path[-1]}` appears twice (first at line {dup.first.line}); YAML keeps only the last",
                path,
                dup.again.line,
                dup.again.col,
                "merge the two entries into one",
            )
        )
    if not isinstance(data, dict):
        out.findings.append(
            Finding(
                Code.BAD_STRUCTURE,
                "a mapping file is a YAML mapping",
                path,
                1,
                1,
                "start with `shim: NAME`",
            )
        )
        return out
    try:
        out.mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        out.findings.extend(_shape_findings(out, exc))
        out.recovered = recover(data, [loc for _, loc in _errors(exc)])
    return out


def yaml_hint(message: str, line: str, col: int) -> str:
    """What most likely causes a YAML parser's ``message`` at ``col`` of ``line``, and the fix.

    The parser's words describe its state ("mapping values are not allowed in this
    context"), not the mistake; a newcomer's usual mistakes behind each are named.
    """
    if "mapping values are not allowed" in message:
        if ": " in line[: max(col - 1, 0)]:  # a second `: ` on the key's own line
            return 'the value holds `: `; quote it (`key: "a: b"`)'
        return "this line is indented further than the key above it; align it with its siblings"
    if "tab" in message:
        return "indent with spaces: YAML does not allow tabs"
    if "end of stream" in message or "quoted scalar" in message:
        return "a quoted value is not closed: look for a missing quote on or above this line"
    return "check indentation and quoting around this line"


def _errors(exc: ValidationError) -> list[tuple[Any, DataPath]]:
    """pydantic's errors with their paths into the YAML."""
    # a `X | None` field reports its None branch too ("Input should be None"): noise
    return [(e, _data_path(e["loc"])) for e in exc.errors() if e["type"] != "none_required"]


def _shape_findings(out: LoadedMapping, exc: ValidationError) -> list[Finding]:
    findings: list[Finding] = []
    errors = _errors(exc)
    locs = {loc for _, loc in errors}
    seen: set[DataPath] = set(_misspelt(errors))
    for err, loc in errors:
        # union branches repeat a location, and a branch that failed at the top
        # (`fields.x: should be a string`) hides the real error deeper down
        deeper = any(other[: len(loc)] == loc and other != loc for other in locs)
        if loc in seen or deeper:
            continue
        seen.add(loc)
        top = loc[0] if loc else ""
        if top == "shim":
            code, hint = Code.BAD_NAME, "use lowercase letters, digits and dashes: `customer`"
        elif top == "version":
            code, hint = Code.BAD_VERSION, "use a positive integer: `version: 1`"
        elif err["type"] == BARE_NULL:
            code, hint = Code.BAD_TREATMENT, NULL_HINT
        else:
            code, hint = Code.BAD_STRUCTURE, _hint(err["type"], loc)
        is_key = loc[-1:] == ("[key]",)  # pydantic's mark for a dict key (not a YAML key)
        where = ".".join(str(p) for p in (loc[:-1] if is_key else loc)) or "the file"
        message = f"{where}: {err['msg'].removeprefix('Value error, ')}"
        if err["type"] == "literal_error":  # one of a closed list: name the likely one
            allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            if is_key:
                section = ".".join(str(p) for p in loc[:-2]) or "the file"
                message = f"unknown key `{err['input']}` in {section}"
            else:
                message = f"{where}: unknown value `{err['input']}`"
            hint = f"{did_you_mean(str(err['input']), allowed)}one of: {', '.join(allowed)}"
        if loc == ("fields",) and err.get("input", 0) is None:  # `fields:` with nothing below
            message = "fields: has no entry below it"
            hint = "list the internal fields; `shimgen init` writes every one as `drop`"
        if err["type"] == "extra_forbidden":
            message = f"unknown key `{loc[-1]}`" + (
                f" in {'.'.join(map(str, loc[:-1]))}" if loc[:-1] else ""
            )
            hint = _unknown_key_hint(str(loc[-1]), loc[:-1])
        findings.append(
            out.finding(code, message, loc, hint, value=err["type"] != "extra_forbidden")
        )
    return findings


def _misspelt(errors: list[tuple[Any, DataPath]]) -> list[DataPath]:
    """Missing keys that an unknown key beside them is a misspelling of (`owners:`).

    One typo is one mistake: the unknown key's finding says "did you mean `owner`?",
    so "owner: Field required" at the same place would only repeat it.
    """
    unknown: dict[DataPath, list[str]] = {}
    for err, loc in errors:
        if err["type"] == "extra_forbidden" and loc:
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
    return [
        loc
        for err, loc in errors
        if err["type"] == "missing"
        and loc
        and any(closest(typo, [str(loc[-1])]) for typo in unknown.get(loc[:-1], []))
    ]


NULL_HINT = 'write the null treatment quoted: `"null"`; or name another treatment, e.g. `drop`'
"""The fix for a treatment written as a bare YAML null (mapping and ruleset alike)."""


def _data_path(loc: tuple[int | str, ...]) -> DataPath:
    """Drop pydantic's union-branch labels (``FieldRule``, ``str``) from a location."""
    return tuple(p for p in loc if p not in _BRANCHES)


_BRANCHES = frozenset(
    {"FieldRule", "str", "DerivedRule", "int", "bool", "GroupSpec", "ElevationRule"}
)
"""pydantic's labels for union branches: not keys of the YAML."""


def _unknown_key_hint(key: str, parent: DataPath) -> str:
    """Name the keys the format allows beside an unknown one, the likely one first."""
    known = _keys_at(parent)
    if not known:
        return "remove it, or check its spelling against `shimgen schema`"
    return f"{did_you_mean(key, known)}the keys here are {', '.join(known)}; or remove it"


def _keys_at(loc: DataPath) -> list[str]:
    """The keys the mapping format allows in the YAML mapping at ``loc`` (none if unsure)."""
    node: Any = Mapping
    for part in loc:
        model = _model_in(node)
        if model is not None:
            by_key = {f.alias or name: f for name, f in model.model_fields.items()}
            if part not in by_key:
                return []
            node = by_key[part].annotation
            continue
        node = _item_of(node)
        if node is None:
            return []
    model = _model_in(node)
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def _options(node: Any) -> list[Any]:
    """The branches of a type, with ``Annotated`` and unions unwrapped."""
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    if get_origin(node) in (Union, UnionType):
        return [b for arg in get_args(node) for b in _options(arg)]
    return [node]


def _model_in(node: Any) -> type[BaseModel] | None:
    return next(
        (b for b in _options(node) if isinstance(b, type) and issubclass(b, BaseModel)), None
    )


def _item_of(node: Any) -> Any:
    """What a dict's values or a list's items are, for a step into a container type."""
    for branch in _options(node):
        if get_origin(branch) is dict:
            return get_args(branch)[1]
        if get_origin(branch) is list:
            return get_args(branch)[0]
    return None


def _hint(kind: str, loc: DataPath) -> str:
    if kind == "missing":
        return f"add `{loc[-1]}:`" if loc else "add the missing key"
    if loc == ("groups",):
        return (
            "groups is a mapping from each group's name to what it is for: "
            "`groups: {support: Helpdesk answering customers}`"
        )
    if loc and loc[0] == "fields":
        return "a field is a treatment name (`drop`) or a mapping with to/treat/groups/inbound/why"
    if loc and loc[0] == "routes":
        return (
            "a route is {external: METHOD /path, internal: METHOD /path, groups: [g], query: [q]}"
        )
    if "elevated" in loc:
        return (
            "elevated is {max_duration: 4h, approvals: 1, approvers: [group], and optionally "
            "max_holders: N, excludes: [group], break_glass: 30m, beyond: group}"
        )
    if loc and loc[0] == "upstream":
        return "upstream is {url_env: ENV_VAR_NAME, timeout: SECONDS}"
    return "see `shimgen schema` for the format"
