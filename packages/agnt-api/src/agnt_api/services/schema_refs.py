"""Static checks of a published JSON Schema: references stay inside it and terminate.

A schema is data from an untrusted executor. Before any validator sees it, this module walks
it (iteratively, keyword-aware) and refuses every ``$ref`` that would be resolved outside the
document (http, file, relative URIs, refs under a remote ``$id``), refs to missing
definitions, reference loops that never reach a value, unknown meta-schemas and nested
``$id``. It also measures how much work error reporting can cost (``SchemaShape``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from agnt_api.errors import ValidationFailed
from agnt_models import FieldError

MAX_SCHEMA_DEPTH = 32
"""Deepest nesting of subschemas a published schema may have."""

MAX_SCHEMA_NODES = 5_000
"""Most subschemas a published schema may hold."""

MAX_EXPANDED_NODES = 2_000
"""Above this many subschemas with references inlined, a failed validation reports errors
field by field instead of walking every branch (whose cost can grow exponentially)."""

KNOWN_DRAFTS = {
    "http://json-schema.org/draft-04/schema": 4,
    "http://json-schema.org/draft-06/schema": 6,
    "http://json-schema.org/draft-07/schema": 7,
    "https://json-schema.org/draft/2019-09/schema": 2019,
    "https://json-schema.org/draft/2020-12/schema": 2020,
}

_SINGLE = ("additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties")
_SINGLE_DESCENDING = (*_SINGLE, "contains", "propertyNames", "contentSchema")
_SINGLE_IN_PLACE = ("not", "if", "then", "else")
_LIST_IN_PLACE = ("allOf", "anyOf", "oneOf")
_MAP_DESCENDING = ("properties", "patternProperties")
_MAP_DEFINITIONS = ("$defs", "definitions")
_MAP_IN_PLACE = ("dependentSchemas", "dependencies")
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")

Path = tuple[str, ...]


@dataclass(frozen=True)
class SchemaShape:
    """What the static walk learned: whether refs recurse, and the inlined size."""

    recursive: bool
    expanded_nodes: int

    @property
    def cheap_errors(self) -> bool:
        """Whether collecting every error is bounded (no recursion, small when inlined)."""
        return not self.recursive and self.expanded_nodes <= MAX_EXPANDED_NODES


def known_draft(uri: str) -> int | None:
    """The draft a ``$schema`` URI names (with or without a trailing ``#``), or None."""
    return KNOWN_DRAFTS.get(uri.removesuffix("#"))


def _refused(field: str, path: Path, message: str) -> ValidationFailed:
    loc = ".".join((field, *path))
    return ValidationFailed(f"{loc}: {message}", errors=[FieldError(loc=loc, message=message)])


def _subschemas(node: dict[str, object]) -> Iterator[tuple[Path, object, bool]]:
    """``(relative path, subschema, in_place)`` for each subschema ``node`` holds."""
    for keyword in _SINGLE_DESCENDING:
        if keyword in node:
            yield (keyword,), node[keyword], False
    for keyword in _SINGLE_IN_PLACE:
        if keyword in node:
            yield (keyword,), node[keyword], True
    items = node.get("items")
    if isinstance(items, list):
        for index, child in enumerate(items):
            yield ("items", str(index)), child, False
    elif "items" in node:
        yield ("items",), items, False
    prefix = node.get("prefixItems")
    if isinstance(prefix, list):
        for index, child in enumerate(prefix):
            yield ("prefixItems", str(index)), child, False
    for keyword in _LIST_IN_PLACE:
        members = node.get(keyword)
        if isinstance(members, list):
            for index, child in enumerate(members):
                yield (keyword, str(index)), child, True
    for keyword in (*_MAP_DESCENDING, *_MAP_DEFINITIONS, *_MAP_IN_PLACE):
        members = node.get(keyword)
        if isinstance(members, dict):
            in_place = keyword in _MAP_IN_PLACE
            for name, child in members.items():
                # dependencies: a list of property names is not a schema.
                if isinstance(child, dict | bool):
                    yield (keyword, name), child, in_place


def _pointer_target(document: object, ref: str) -> tuple[Path, object] | None:
    """The path and value a ``#/json/pointer`` fragment names, or None if it names nothing."""
    fragment = unquote(ref[1:])
    if not fragment:
        return (), document
    path: list[str] = []
    node = document
    for raw in fragment.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        path.append(part)
    return tuple(path), node


class _Walk:
    """One walk of one schema document; ``check`` raises ``ValidationFailed`` or returns."""

    def __init__(self, field: str, document: dict[str, object]) -> None:
        self.field = field
        self.document = document
        self.nodes: dict[Path, dict[str, object]] = {}
        self.edges: dict[Path, list[tuple[Path, bool]]] = {}
        self.refs: list[tuple[Path, str, str]] = []
        self.anchors: dict[str, Path] = {}
        draft_uri = document.get("$schema")
        self.draft = known_draft(draft_uri) if isinstance(draft_uri, str) else None

    def visit(self, root: Path, schema: object, depth: int) -> None:
        stack: list[tuple[Path, object, int]] = [(root, schema, depth)]
        while stack:
            path, node, level = stack.pop()
            if not isinstance(node, dict) or path in self.nodes:
                continue
            if level > MAX_SCHEMA_DEPTH:
                raise _refused(
                    self.field, path, f"subschemas are nested deeper than {MAX_SCHEMA_DEPTH}"
                )
            if len(self.nodes) >= MAX_SCHEMA_NODES:
                raise _refused(
                    self.field, path, f"the schema has more than {MAX_SCHEMA_NODES} subschemas"
                )
            self.nodes[path] = node
            self._keywords(path, node)
            children = self.edges.setdefault(path, [])
            for relative, child, in_place in _subschemas(node):
                child_path = path + relative
                if isinstance(child, dict):
                    children.append((child_path, in_place))
                stack.append((child_path, child, level + 1))

    def _keywords(self, path: Path, node: dict[str, object]) -> None:
        declared = node.get("$schema")
        if declared is not None and (
            not isinstance(declared, str) or known_draft(declared) is None
        ):
            raise _refused(
                self.field,
                (*path, "$schema"),
                "only the standard JSON Schema drafts (4, 6, 7, 2019-09, 2020-12) are accepted",
            )
        id_keyword = "id" if self.draft == 4 else "$id"
        if path and isinstance(node.get(id_keyword), str):
            raise _refused(
                self.field,
                (*path, id_keyword),
                f"{id_keyword} is only allowed at the root of the schema",
            )
        for keyword in ("$anchor", "$dynamicAnchor"):
            name = node.get(keyword)
            if isinstance(name, str):
                self.anchors.setdefault(name, path)
        for keyword in _REF_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str):
                self.refs.append((path, keyword, ref))
            elif keyword in node:
                raise _refused(self.field, (*path, keyword), "must be a string")

    def resolve_refs(self) -> None:
        resolved = 0
        while resolved < len(self.refs):
            path, keyword, ref = self.refs[resolved]
            resolved += 1
            where = (*path, keyword)
            if not ref.startswith("#"):
                raise _refused(
                    self.field,
                    where,
                    f"{ref[:200]!r} points outside this schema; only references inside it "
                    "(#/$defs/..., #/definitions/...) are allowed",
                )
            if ref.startswith("#/") or ref == "#":
                target = _pointer_target(self.document, ref)
                if target is None:
                    raise _refused(self.field, where, f"{ref[:200]!r} points to nothing")
                target_path, value = target
            elif ref[1:] in self.anchors:
                target_path = self.anchors[ref[1:]]
                value = self.nodes[target_path]
            else:
                raise _refused(self.field, where, f"{ref[:200]!r} names no $anchor in this schema")
            if not isinstance(value, dict | bool):
                raise _refused(self.field, where, f"{ref[:200]!r} does not point to a schema")
            if isinstance(value, dict):
                self.visit(target_path, value, len(target_path))
                self.edges[path].append((target_path, True))

    def find_loop(self, in_place_only: bool) -> list[Path] | None:
        """The nodes of a cycle of (in-place, if asked) edges, else None."""
        done: set[Path] = set()
        for start in self.nodes:
            if start in done:
                continue
            on_stack: set[Path] = {start}
            stack: list[tuple[Path, Iterator[tuple[Path, bool]]]] = [
                (start, iter(self.edges[start]))
            ]
            while stack:
                node, children = stack[-1]
                for child, in_place in children:
                    if in_place_only and not in_place:
                        continue
                    if child in on_stack:
                        cycle = [path for path, _ in stack]
                        return cycle[cycle.index(child) :]
                    if child not in done:
                        on_stack.add(child)
                        stack.append((child, iter(self.edges[child])))
                        break
                else:
                    stack.pop()
                    on_stack.discard(node)
                    done.add(node)
        return None

    def expanded_nodes(self) -> int:
        """How many subschemas the root holds with every reference inlined (capped)."""
        sizes: dict[Path, int] = {}
        order: list[Path] = []
        stack: list[tuple[Path, bool]] = [((), False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in sizes:
                continue
            sizes[node] = 0
            stack.append((node, True))
            stack.extend((child, False) for child, _ in self.edges[node] if child not in sizes)
        for node in order:
            total = 1 + sum(sizes[child] for child, _ in self.edges[node])
            sizes[node] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[()]


def check_references(field: str, schema: dict[str, object]) -> SchemaShape:
    """``ValidationFailed`` naming the pointer unless every reference stays inside ``schema``.

    Refused: any ``$ref`` (``$dynamicRef``, ``$recursiveRef``) not starting with ``#``,
    a pointer or anchor that names nothing, a loop of references that never descends into
    the value (``{"$ref": "#"}``), a ``$schema`` that is not a standard draft, and ``$id``
    below the root.
    """
    walk = _Walk(field, schema)
    walk.visit((), schema, 0)
    walk.resolve_refs()
    loop = walk.find_loop(in_place_only=True)
    if loop is not None:
        where = next(
            (*path, keyword)
            for path in loop
            for keyword in _REF_KEYWORDS
            if keyword in walk.nodes[path]
        )
        raise _refused(
            field, where, "this reference loops back to itself without descending into the value"
        )
    recursive = walk.find_loop(in_place_only=False) is not None
    return SchemaShape(
        recursive=recursive,
        expanded_nodes=MAX_EXPANDED_NODES + 1 if recursive else walk.expanded_nodes(),
    )
