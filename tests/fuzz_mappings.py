"""Hypothesis strategies: mappings over a schema, grown from ``shimgen init`` output.

A mapping starts as what ``init`` wrote (every field ``drop``, each key
spelled as ``init`` spells it), then random fields are opened with random
treatments, targets and groups, and some mappings get garbage edits (lines
deleted, duplicated, cut, junk inserted), as an author's half-typed file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml
from hypothesis import strategies as st

_FIELD_LINE = re.compile(r"^  (?P<key>.*?): drop(?:  # (?P<note>.*))?$")

TREATMENTS = [
    "pass",
    "drop",
    "null",
    "redact",
    "{redact: REDACTED}",
    "{mask: {keep_last: 2}}",
    "{mask: {keep_first: 1, keep_last: 1, char: '#'}}",
    "mask_email",
    "last4",
    "hash",
    "{hash: {length: 8}}",
    "tokenize",
    "year",
    "month",
    "{truncate: month}",
    "{truncate: day}",
    "{truncate: minute}",
    "{bucket: [0, 18, 65]}",
    "{round: 1}",
    "{round: -2}",
    "{prefix: 3}",
    "{map: {A: b, B: c}}",
    "{map: {'on': 'off'}}",
]
GARBAGE_TREATMENTS = [
    "explode",
    "{nonsense: 1}",
    "{mask: {keep_last: -1}}",
    "{mask: {keep_last: many}}",
    "{bucket: []}",
    "{bucket: [5, 1]}",
    "{round: 1.5}",
    "{hash: {length: 0}}",
    "{truncate: century}",
    "[1, 2]",
    "{map: {}}",
    "{map: [a]}",
    "{}",
    "''",
    "null",
    "7",
]
GROUPS = ["support", "billing", "undeclared"]


@dataclass(frozen=True)
class Listing:
    """The field lines of an ``init`` output: key text as written, and the path it means."""

    lines: list[str]
    keys: dict[int, str]  # line index -> key text as init wrote it
    notes: dict[int, str]  # line index -> init's comment (the type: `string (date)`, `any`...)


def listing(text: str) -> Listing:
    lines = text.splitlines()
    keys: dict[int, str] = {}
    notes: dict[int, str] = {}
    in_fields = False
    for i, line in enumerate(lines):
        if line.startswith("fields:"):
            in_fields = True
            continue
        match = _FIELD_LINE.match(line) if in_fields else None
        if match:
            keys[i] = match["key"]
            notes[i] = match["note"] or ""
    return Listing(lines, keys, notes)


def key_meaning(key_text: str) -> str:
    """The path a key line means to a YAML reader (so ``to:`` can name the same path)."""
    try:
        data = yaml.safe_load(f"{key_text}: 1")
    except yaml.YAMLError:
        return key_text
    if isinstance(data, dict) and len(data) == 1:
        return str(next(iter(data)))
    return key_text


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _through(note: str) -> str:
    """An entry that lets a field through unchanged where check allows it (init's note: its type)."""
    if note.startswith("any"):
        return "redact"  # an untyped value cannot pass (SG106)
    if re.search(r"\bany\b", note):
        return "drop"  # nor a structure holding one, and redact would not fit it
    return "{why: fuzz}"  # pass, with the why: a pii/secret field needs


@st.composite
def entries(draw: st.DrawFn, external_paths: list[str]) -> str:
    """The value of one opened field: a bare treatment or a flow mapping."""
    treatments = st.sampled_from(TREATMENTS) | st.sampled_from(GARBAGE_TREATMENTS)
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["pass", "drop", "redact", "hash", "tokenize", "explode"]))
    parts: list[str] = []
    if external_paths and draw(st.booleans()):
        parts.append(f"to: {_quoted(draw(st.sampled_from(external_paths)))}")
    elif draw(st.integers(0, 9)) == 0:
        parts.append(f"to: {_quoted(draw(st.text(max_size=8)))}")
    if draw(st.booleans()):
        parts.append(f"treat: {draw(treatments)}")
    if draw(st.integers(0, 2)) == 0:
        chosen = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2, unique=True))
        parts.append("groups: {" + ", ".join(f"{g}: {draw(treatments)}" for g in chosen) + "}")
    if draw(st.integers(0, 4)) == 0:
        parts.append("inbound: true")
    if draw(st.booleans()):
        parts.append(f"why: {_quoted(draw(st.text(max_size=10)))}")
    if draw(st.integers(0, 19)) == 0:
        parts.append("surprise: 1")
    return "{" + ", ".join(parts) + "}"


@st.composite
def mappings(
    draw: st.DrawFn,
    init_text: str,
    external_text: str,
    styles: tuple[str, ...] = ("open-all", "open-all", "open-some", "garbled"),
) -> str:
    """A mapping grown from ``init_text``; ``external_text`` is init's listing of the external side."""
    ours = listing(init_text)
    external_paths = [key_meaning(k) for k in listing(external_text).keys.values()]
    lines = list(ours.lines)
    style = draw(st.sampled_from(styles))
    if style == "open-all":  # every field through as it is: what reaches codegen the most
        for i, key in ours.keys.items():
            lines[i] = f"  {key}: {_through(ours.notes[i])}"
    elif ours.keys:
        opened = draw(st.lists(st.sampled_from(sorted(ours.keys)), max_size=6, unique=True))
        for i in opened:
            lines[i] = f"  {ours.keys[i]}: {draw(entries(external_paths))}"
    if draw(st.booleans()):
        lines = [
            "groups: {support: Support desk, billing: Billing}" if ln == "groups: {}" else ln
            for ln in lines
        ]
    if style == "open-all":
        return "\n".join(lines) + "\n"
    if ours.keys and draw(st.integers(0, 4)) == 0:
        key = ours.keys[draw(st.sampled_from(sorted(ours.keys)))]
        level = draw(st.sampled_from(["pii", "secret", "public", "confidential"]))
        lines.append(f"classification: {{{_quoted(key_meaning(key))}: {level}}}")
    if external_paths and ours.keys and draw(st.integers(0, 4)) == 0:
        target = _quoted(draw(st.sampled_from(external_paths)))
        source = _quoted(key_meaning(draw(st.sampled_from(list(ours.keys.values())))))
        derived = draw(
            st.sampled_from(
                [
                    f"derived: {{{target}: {{const: x}}}}",
                    f"derived: {{{target}: {{from: [{source}], template: '{{0}}!'}}}}",
                    f"derived: {{{target}: {{from: [{source}], template: '{{3}}'}}}}",
                ]
            )
        )
        lines.append(derived)
    if style == "garbled":
        lines = draw(_garbled(lines))
    return "\n".join(lines) + "\n"


@st.composite
def _garbled(draw: st.DrawFn, lines: list[str]) -> list[str]:
    """An author's half-edited file: a line deleted, doubled, cut short, or junk typed in."""
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "double", "cut", "junk", "indent"]))
        if edit == "delete":
            del lines[i]
        elif edit == "double":
            lines.insert(i, lines[i])
        elif edit == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif edit == "junk":
            lines.insert(i, draw(st.text(max_size=20)))
        else:
            lines[i] = "   " + lines[i]
    return lines
