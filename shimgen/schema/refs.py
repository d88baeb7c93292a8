"""Reading schema documents and resolving ``$ref`` between them.

This is the half of the loader that deals with files and JSON pointers; the
other half (``shimgen.schema.loader``) turns the resolved JSON into
:class:`~shimgen.schema.model.SchemaNode` graphs. Keeping them apart means
the graph builder never touches the file system, and every file it reads is
recorded in one place (``DocumentStore.files``) so that generated shims can be
stamped with the hash of every schema input, not only the one named in the
mapping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

import orjson
import yaml

try:  # the C loader is ~10x faster when libyaml is present
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the wheel
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_REMOTE_SCHEMES = ("http://", "https://", "ftp://", "file://", "urn:")


class SchemaError(Exception):
    """A schema that cannot be read or resolved: the finding SG006 is made from it.

    Carries a position like every finding does, so the CLI can point at the
    exact ``$ref`` that failed rather than at the mapping that named the file.
    """

    def __init__(
        self,
        message: str,
        file: Path,
        line: int | None = None,
        col: int | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.hint = hint

    def located(self) -> str:
        """The message, naming the file (and line) it is about unless it already does.

        Paths under the working directory are shown relative to it, as the user typed them.
        """
        try:
            shown = self.file.resolve().relative_to(Path.cwd())
        except ValueError:
            shown = self.file
        if str(shown) in self.message or str(self.file) in self.message:
            return self.message
        at = "" if self.line is None else f":{self.line}" + (f":{self.col}" if self.col else "")
        return f"{self.message}: {shown}{at}"

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        text = f"{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


@dataclass(eq=False)
class Document:
    """One parsed schema file. ``path`` is for people, ``key`` identifies the file."""

    path: Path  # as reached: the mapping's path, or the referrer's directory joined with the ref
    key: Path  # resolved absolute path: the cache and memo key
    data: Any
    raw: bytes
    self_ids: frozenset[str]  # the root's $id / id without fragment: refs to these are local
    _resources: dict[str, str] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        """The document's base URI: its root ``$id`` if absolute, else its file's URI."""
        own = _own_id(self.data) if isinstance(self.data, dict) else None
        file_uri = self.key.as_uri()
        return urljoin(file_uri, own) if own else file_uri

    def resources(self) -> dict[str, str]:
        """Every schema resource in the file: absolute ``$id`` (no fragment) -> JSON pointer.

        Bundled schemas (2020-12 "compound documents", or draft-07 files made by
        bundlers) key their definitions by URL and give each an ``$id``; a
        ``$ref`` to that URL is a ref inside this file. Built on first need.
        """
        if self._resources is None:
            found: dict[str, str] = {}
            todo: list[tuple[Any, str, str]] = [(self.data, "", self.base)]
            while todo:
                value, pointer, base = todo.pop()
                if isinstance(value, dict):
                    own = _own_id(value)
                    if own is not None:
                        base = urljoin(base, own)
                        found.setdefault(urldefrag(base).url, pointer)
                    for key, sub in value.items():
                        if key not in DATA_KEYWORDS and isinstance(sub, dict | list):
                            todo.append((sub, f"{pointer}/{escape(str(key))}", base))
                elif isinstance(value, list):
                    todo.extend((sub, f"{pointer}/{i}", base) for i, sub in enumerate(value))
            self._resources = found
        return self._resources

    def base_at(self, pointer: str) -> tuple[str, str]:
        """The base URI in force at ``pointer``, and the pointer of the resource that sets it."""
        base, resource = self.base, ""
        value: Any = self.data
        walked = ""
        for seg in split_pointer(pointer):
            if isinstance(value, dict) and seg in value:
                value = value[seg]
            elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
                value = value[int(seg)]
            else:
                break
            walked += "/" + escape(seg)
            own = _own_id(value) if isinstance(value, dict) else None
            if own is not None:
                base, resource = urljoin(base, own), walked
        return base, resource


DATA_KEYWORDS = frozenset({"enum", "const", "default", "example", "examples"})
"""Keywords whose values are instance data: an ``$id`` or ``$ref`` key in them is data too."""


def _own_id(schema: dict[str, Any]) -> str | None:
    """A schema's ``$id`` (or draft-04 ``id`` when it is a URL), without a bare ``#name``."""
    for key in ("$id", "id"):
        value = schema.get(key)
        if not isinstance(value, str) or not value or value.startswith("#"):
            continue
        if key == "$id" or "://" in value:
            return value
    return None


@dataclass(frozen=True)
class Located:
    """A schema value together with where it lives, so nested refs resolve against its file."""

    doc: Document
    pointer: str  # JSON pointer, "" for the document root
    value: Any

    @property
    def key(self) -> tuple[Path, str]:
        return (self.doc.key, self.pointer)

    @property
    def source(self) -> str:
        return f"{self.doc.path}#{self.pointer}"

    def child(self, *segments: str | int) -> Located:
        """The located value under ``segments`` (which the caller knows exist)."""
        value = self.value
        pointer = self.pointer
        for seg in segments:
            value = value[seg]
            pointer += "/" + escape(str(seg))
        return Located(self.doc, pointer, value)


def escape(segment: str) -> str:
    """A JSON pointer segment: ``~`` -> ``~0``, ``/`` -> ``~1`` (RFC 6901)."""
    return segment.replace("~", "~0").replace("/", "~1")


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def split_pointer(pointer: str) -> list[str]:
    """``/a~1b/0`` -> ``["a/b", "0"]``; percent-escapes from URI fragments are decoded too."""
    if not pointer:
        return []
    return [unescape(unquote(seg)) for seg in pointer.split("/")[1:]]


def last_segment(pointer: str) -> str | None:
    segs = split_pointer(pointer)
    return segs[-1] if segs else None


def parse_document(raw: bytes, path: Path) -> Any:
    """JSON or YAML, decided by content: a JSON document is also YAML, but the
    JSON parser is much faster on the large files (Stripe, FHIR) and gives
    better error positions for them; anything that does not look like JSON, or
    a ``.yaml`` file that fails as JSON, goes to the YAML parser."""
    text = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if text.lstrip()[:1] in (b"{", b"["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise SchemaError(
                    f"not valid JSON: {exc.msg}",
                    path,
                    exc.lineno,
                    exc.colno,
                    "fix the syntax error (or give the file a .yaml name if it is YAML)",
                ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # CSafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise SchemaError(
            f"not valid YAML or JSON: {exc.problem}",
            path,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
            "fix the syntax error",
        ) from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"not valid YAML or JSON: {exc}", path) from None
    if alias_growth(data) > MAX_ALIAS_GROWTH:
        raise SchemaError(
            f"the document expands to more than {MAX_ALIAS_GROWTH:,} values through aliases",
            path,
            hint="write the repeated parts once under $defs or components and $ref them",
        )
    return data


MAX_ALIAS_GROWTH = 1_000_000
"""Values YAML aliases may add to a schema document, beyond the values written in it.

The loader shares an aliased value; the closure of a model copies it, so nine levels of
ten aliases each (a 700-byte file) made ``generate`` copy 10**9 values (red-team,
sixth pass). JSON has no aliases: its expansion is its size. A mapping is bounded
differently, by its whole expanded size (``shimgen.mapping.yamlpos.MAX_NODES``, the same
number): a mapping is small, while a schema may be large on its own (Box's is 1.7 MB),
so only what aliases add to it is bounded."""


def alias_growth(data: Any) -> int:
    """How many values ``data`` holds written out in full, beyond those it holds once."""
    size: dict[int, int] = {}  # expanded size of each container, by id
    stack: list[tuple[Any, bool]] = [(data, False)]
    distinct = 0
    while stack:
        value, done = stack.pop()
        if not isinstance(value, dict | list) or (not done and id(value) in size):
            continue
        children = list(value.values()) if isinstance(value, dict) else value
        if done:
            size[id(value)] = 1 + sum(
                size.get(id(c), 1) if isinstance(c, dict | list) else 1 for c in children
            )
            distinct += 1 + sum(1 for c in children if not isinstance(c, dict | list))
            continue
        size[id(value)] = 0  # on the stack; a YAML alias cannot point inside itself
        stack.append((value, True))
        stack.extend((c, False) for c in children)
    return size.get(id(data), 1) - max(distinct, 1) if isinstance(data, dict | list) else 0


def position(doc: Document, pointer: str) -> tuple[int | None, int | None]:
    """1-based line and column of the value at ``pointer``, or ``(None, None)``.

    Only called when reporting an error, so it re-parses the file with the
    position-keeping YAML composer (JSON is close enough to YAML for this)
    instead of slowing down every successful load with positions.
    """
    try:
        node: yaml.Node | None = yaml.compose(doc.raw, Loader=_Loader)
    except yaml.YAMLError:
        return (None, None)
    for seg in split_pointer(pointer):
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == seg), None)
        elif isinstance(node, yaml.SequenceNode) and seg.isdigit() and int(seg) < len(node.value):
            node = node.value[int(seg)]
        else:
            node = None
        if node is None:
            return (None, None)
    if node is None:
        return (None, None)
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _error_at(where: Located, message: str, hint: str, sub: str = "") -> SchemaError:
    line, col = position(where.doc, where.pointer + sub)
    return SchemaError(message, where.doc.path, line, col, hint)


class DocumentStore:
    """Every file one load reads, parsed once and kept for the whole load."""

    def __init__(self) -> None:
        self._docs: dict[Path, Document] = {}

    def open(self, path: Path) -> Document:
        """The document at ``path`` (parsed on first use). Raises SchemaError if unreadable."""
        key = Path(os.path.abspath(path)).resolve()
        doc = self._docs.get(key)
        if doc is not None:
            return doc
        try:
            raw = key.read_bytes()
        except FileNotFoundError:
            raise SchemaError("schema file not found", path, hint="check the path") from None
        except OSError as exc:
            raise SchemaError(f"cannot read schema file: {exc.strerror}", path) from None
        data = parse_document(raw, path)
        if not isinstance(data, dict | bool):
            raise SchemaError(
                f"not a schema: the document is a {type(data).__name__}, not an object",
                path,
                1,
                1,
                "a JSON Schema or an OpenAPI document is a JSON/YAML object",
            )
        ids: set[str] = set()
        if isinstance(data, dict):
            for id_key in ("$id", "id"):
                value = data.get(id_key)
                if isinstance(value, str) and "://" in value:
                    ids.add(urldefrag(value).url)
        doc = Document(path, key, data, raw, frozenset(ids))
        self._docs[key] = doc
        return doc

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file read, sorted and without duplicates (one entry per real file)."""
        return tuple(sorted((d.path for d in self._docs.values()), key=str))

    def resolve(self, where: Located) -> Located:
        """The target of the ``$ref`` in the schema ``where``.

        Relative file refs are resolved against the directory of the file that
        contains them (not the working directory), as JSON Schema requires.
        """
        ref = where.value["$ref"]
        if not isinstance(ref, str):
            raise _error_at(where, "$ref is not a string", "write $ref: '#/...'", "/$ref")
        url, fragment = urldefrag(ref) if "#" in ref else (ref, "")
        doc = where.doc
        embedded = self._embedded(where, url)
        if embedded is not None:
            return self._walk(where, doc, ref, embedded, fragment)
        if url and url not in doc.self_ids:
            if url.lower().startswith(_REMOTE_SCHEMES) or "://" in url:
                raise _error_at(
                    where,
                    f"remote $ref not supported; vendor the schema: '{ref}'",
                    "download the referenced schema next to this one and use a relative $ref",
                    "/$ref",
                )
            target_path = Path(os.path.normpath(doc.path.parent / unquote(url)))
            try:
                doc = self.open(target_path)
            except SchemaError as exc:
                if target_path.is_file():
                    raise  # a syntax error: its own file and line say more than the ref
                line, col = position(where.doc, where.pointer + "/$ref")
                raise SchemaError(
                    f"$ref '{ref}' in {where.doc.path}: {exc.message} ({target_path})",
                    where.doc.path,
                    line,
                    col,
                    exc.hint or "check the relative path",
                ) from None
        return self._walk(where, doc, ref, "", fragment)

    def _embedded(self, where: Located, url: str) -> str | None:
        """The pointer of the schema resource in this file that ``url`` names, if any.

        The ref is resolved against the base URI in force where it stands (the
        nearest enclosing ``$id``), so ``#/definitions/x`` inside a bundled
        resource means that resource's definitions, as JSON Schema says. None
        when the ref is plain (no ``$id`` anywhere on its way): the old rules apply.
        """
        doc = where.doc
        if not url and not _has_ids(where):
            return None
        base, resource = doc.base_at(where.pointer)
        target = urldefrag(urljoin(base, url)).url if url else urldefrag(base).url
        if not url:
            return resource
        return doc.resources().get(target)

    def _walk(self, where: Located, doc: Document, ref: str, start: str, fragment: str) -> Located:
        """The value at JSON pointer ``fragment`` below ``start`` in ``doc`` (or a ``#name`` anchor)."""
        if fragment and not fragment.startswith("/"):
            return self._anchor(where, doc, ref, fragment)
        value: Any = doc.data
        for seg in split_pointer(start):
            value = value[int(seg)] if isinstance(value, list) else value[seg]
        walked = start
        for seg in split_pointer(fragment):
            walked += "/" + escape(seg)
            if isinstance(value, dict) and seg in value:
                value = value[seg]
            elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
                value = value[int(seg)]
            else:
                raise _error_at(
                    where,
                    f"$ref '{ref}' in {where.doc.path}: {doc.path} has nothing at '{walked}'",
                    _pointer_hint(value),
                    "/$ref",
                )
        return Located(doc, walked, value)

    def _anchor(self, where: Located, doc: Document, ref: str, name: str) -> Located:
        """``#name`` refs: a 2019-09 ``$anchor`` or a draft-07 ``$id: '#name'`` in the document."""
        stack: list[Located] = [Located(doc, "", doc.data)]
        while stack:
            loc = stack.pop()
            if isinstance(loc.value, dict):
                if loc.value.get("$anchor") == name or loc.value.get("$id") == "#" + name:
                    return loc
                stack.extend(loc.child(k) for k in loc.value if isinstance(k, str))
            elif isinstance(loc.value, list):
                stack.extend(loc.child(i) for i in range(len(loc.value)))
        raise _error_at(
            where,
            f"$ref '{ref}' in {where.doc.path}: no $anchor '{name}' in {doc.path}",
            "use a JSON pointer such as '#/$defs/Name'",
            "/$ref",
        )


def _has_ids(where: Located) -> bool:
    """Does the file hold a schema resource below its root (a nested ``$id``)?"""
    return any(pointer for pointer in where.doc.resources().values())


def _pointer_hint(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
        return f"keys there: {shown}" if keys else "the object there is empty"
    return "the pointer walks into a value that is not an object"


DEFINITION_TABLES = (("components", "schemas"), ("$defs",), ("definitions",))
"""Where named schemas live, in the order a model name is looked up."""


def definition_name(pointer: str) -> str | None:
    """``/definitions/X``, ``/$defs/X``, ``/components/schemas/X`` -> ``X``."""
    segs = split_pointer(pointer)
    for table in DEFINITION_TABLES:
        if len(segs) == len(table) + 1 and tuple(segs[:-1]) == table:
            return segs[-1]
    return None


def select_model(doc: Document, model: str | None) -> Located:
    """The schema a mapping's ``model:`` names in ``doc``.

    Empty: the document root, which must then be a schema (an OpenAPI
    document's root is not). A name: ``components.schemas``, then ``$defs``,
    then ``definitions``, then the root if its ``title`` is that name.
    """
    top = Located(doc, "", doc.data)
    data = doc.data
    if not model:
        if isinstance(data, dict) and "openapi" in data and not _looks_like_schema(data):
            raise SchemaError(
                "an OpenAPI document has no root schema; name a model",
                doc.path,
                hint=_available(data),
            )
        return top
    if isinstance(data, dict):
        for table in DEFINITION_TABLES:
            names = _dig(data, table)
            if isinstance(names, dict) and model in names:
                return top.child(*table, model)
        if data.get("title") == model:
            return top
    raise SchemaError(f"model '{model}' not found in {doc.path}", doc.path, hint=_available(data))


def _looks_like_schema(data: dict[str, Any]) -> bool:
    return any(k in data for k in ("type", "properties", "$ref", "allOf", "anyOf", "oneOf"))


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data


def available_models(path: Path) -> str:
    """The named schemas of the document at ``path``, as the model-not-found hint lists them."""
    return _available(DocumentStore().open(path).data)


def _available(data: Any) -> str:
    names: list[str] = []
    if isinstance(data, dict):
        for table in DEFINITION_TABLES:
            found = _dig(data, table)
            if isinstance(found, dict):
                names.extend(str(k) for k in found if str(k) not in names)
        title = data.get("title")
        if isinstance(title, str) and _looks_like_schema(data) and title not in names:
            names.append(title)
    if not names:
        return "this document defines no named schemas; leave model empty to use its root"
    more = f", ... ({len(names) - 20} more)" if len(names) > 20 else ""
    return "available models: " + ", ".join(names[:20]) + more
