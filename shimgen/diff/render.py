"""Render a diff as terminal text or as Markdown for a pull-request comment.

Both put the verdict first and loosened changes before everything else: a
reviewer who reads only the top of the comment still sees what widens the
boundary.
"""

from __future__ import annotations

from shimgen.diff.model import Change, DiffResult, Kind

TITLES = {
    Kind.LOOSENED: "Loosened (more exposure)",
    Kind.TIGHTENED: "Tightened (less exposure)",
    Kind.NEUTRAL: "Neutral",
}


def _short(text: str | None, limit: int = 80) -> str:
    if text is None:
        return "—"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(result: DiffResult, change: Change) -> str:
    if change.line is None:
        return ""
    label = result.old_label if change.in_old else result.new_label
    return f"{label}:{change.line}"


def to_text(result: DiffResult) -> str:
    lines = [
        f"shimgen diff {result.name}: {result.old_label} → {result.new_label}",
        result.verdict(),
        result.status(),
    ]
    for kind in Kind:
        changes = result.of(kind)
        if not changes:
            continue
        lines += ["", f"{TITLES[kind].upper()}: {len(changes)}"]
        for c in changes:
            views = f" [{', '.join(c.views)}]" if c.views else ""
            where = _where(result, c)
            lines.append(f"  {c.subject}{views}: {_short(c.old)} → {_short(c.new)}")
            lines.append(f"      {c.reason}" + (f"  ({where})" if where else ""))
    return "\n".join(lines) + "\n"


def _cell(text: str | None, *, code: bool = False) -> str:
    if text is None:
        return "—"
    text = _short(text, 120).replace("|", "\\|")
    if code:
        return "`" + text.replace("`", "'") + "`"
    return text


def to_markdown(result: DiffResult) -> str:
    counts = result.counts()
    head = f"### shimgen diff `{result.name}`: {result.verdict()}"
    status = result.status()
    if result.exit_code:
        status = f"**{status}**"
    lines = [
        head,
        "",
        status,
        "",
        f"`{result.old_label}` → `{result.new_label}`",
    ]
    if not result.changes:
        lines += ["", "No changes to what crosses the boundary."]
    for kind in Kind:
        changes = result.of(kind)
        if not changes:
            continue
        lines += [
            "",
            f"#### {TITLES[kind]}: {counts[kind]}",
            "",
            "| Change | Views | Old | New | Why it matters | Where |",
            "|---|---|---|---|---|---|",
        ]
        for c in changes:
            views = ", ".join(c.views) or "—"
            where = _where(result, c)
            lines.append(
                f"| {_cell(c.subject, code=True)} | {views} | {_cell(c.old, code=True)} "
                f"| {_cell(c.new, code=True)} | {_cell(c.reason)} "
                f"| {_cell(where, code=True) if where else '—'} |"
            )
    return "\n".join(lines) + "\n"
