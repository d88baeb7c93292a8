"""Keep field listings finite and small on schemas that recurse in many places.

Detecting recursion by "node already on the walk stack" is enough to make a
walk finite, but not small: in FHIR every datatype has ``extension[]`` of type
``Extension``, and ``Extension`` has a ``value*`` field of nearly every
datatype, so a stack-only walk of ``Patient`` re-expands the whole ``Extension``
tree under every field, hundreds of thousands of leaves (measured: more than
200,000 before giving up). Nobody can review a mapping like that.

The rule. Take the graph of the object nodes a walk opens (an edge per field,
through one array level as :func:`~shimgen.schema.model.iter_leaves` does).
In every cycle of it, pick *recursion hubs*: repeatedly, in each strongly
connected component that still has a cycle, the node most fields of that
component point at (ties: most fields out, then first in schema order); remove
it and repeat until no cycle is left. A hub is then opened at exactly one
path, its shallowest occurrence (first in schema order among equals), and is
a ``recursive`` leaf everywhere else. Every other node is opened wherever it
appears, so a type is always listed down to the point where the walk meets
recursion; a type that repeats only by being reused (``Period`` under ``name``
and under ``address``) is listed in full each time.

On FHIR ``Patient`` the hubs are ``Element`` (every ``_x`` field),
``Extension`` and ``Identifier`` (which recurses with ``Reference``); the
listing has 1,685 leaves, 852 of them recursive leaves such as ``_birthDate``
or ``name[].extension``, 1,338 of them under ``extension[]``, the one place
``Extension`` is opened. Every field of ``name[]``, ``address[]``,
``telecom[]`` and ``managingOrganization`` is listed. On a plain
self-recursive tree the only hub is the tree node itself, and the result
equals the stack rule's.

The marks live on the nodes (``SchemaNode.expand_at``), set once by the
loader, so that walks started below the root (the coverage check walks only
the unmapped parts) agree with the full walk.
"""

from __future__ import annotations

from collections import deque

from shimgen.schema.model import ARRAY, Kind, Path_, SchemaNode


def _opened(node: SchemaNode, path: Path_) -> tuple[SchemaNode, Path_] | None:
    """The object a walk opens for a field, and the path it opens it at (as in ``_walk``)."""
    if node.kind is Kind.OBJECT and node.properties:
        return (node, path)
    items = node.items
    if (
        node.kind is Kind.ARRAY
        and items is not None
        and items.kind is Kind.OBJECT
        and items.properties
    ):
        return (items, (*path, ARRAY))
    return None


def _children(node: SchemaNode) -> list[SchemaNode]:
    out: list[SchemaNode] = []
    for name, child in node.properties.items():
        hit = _opened(child, (name,))
        if hit is not None:
            out.append(hit[0])
    return out


def mark_recursion_hubs(root: SchemaNode) -> list[SchemaNode]:
    """Set ``expand_at`` on the recursion hubs reachable from ``root``; return them."""
    order: list[SchemaNode] = [root]
    index: dict[int, int] = {id(root): 0}
    edges: list[list[int]] = []
    pos = 0
    while pos < len(order):  # discover vertices in schema order
        targets: list[int] = []
        for child in _children(order[pos]):
            if id(child) not in index:
                index[id(child)] = len(order)
                order.append(child)
            targets.append(index[id(child)])
        edges.append(targets)
        pos += 1
    hubs = _pick_hubs(edges)
    if not hubs:
        return []
    # Breadth first in schema order: the first visit of a node is its
    # shallowest occurrence, and a hub only continues from that visit, which
    # is exactly what the walk will do.
    seen = {id(root)}
    hub_ids = {id(order[i]) for i in hubs}
    if id(root) in hub_ids:
        root.expand_at = ()
    queue: deque[tuple[SchemaNode, Path_]] = deque([(root, ())])
    while queue:
        node, path = queue.popleft()
        for name, child in node.properties.items():
            hit = _opened(child, (*path, name))
            if hit is None or id(hit[0]) in seen:
                continue
            seen.add(id(hit[0]))
            if id(hit[0]) in hub_ids:
                hit[0].expand_at = hit[1]
            queue.append(hit)
    return [order[i] for i in sorted(hubs)]


def _pick_hubs(edges: list[list[int]]) -> set[int]:
    hubs: set[int] = set()
    active = set(range(len(edges)))
    work = _cyclic_components(edges, active)
    while work:
        comp = work.pop()
        members = set(comp)
        indeg = dict.fromkeys(comp, 0)
        outdeg = dict.fromkeys(comp, 0)
        for v in comp:
            for w in edges[v]:
                if w in members:
                    indeg[w] += 1
                    outdeg[v] += 1
        hub = max(comp, key=lambda v: (indeg[v], outdeg[v], -v))
        hubs.add(hub)
        members.discard(hub)
        work.extend(_cyclic_components(edges, members))
    return hubs


def _cyclic_components(edges: list[list[int]], active: set[int]) -> list[list[int]]:
    """Strongly connected components of the ``active`` subgraph that contain a
    cycle (Tarjan's algorithm, iterative so deep schemas cannot overflow)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for start in sorted(active):
        if start in index:
            continue
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        frames: list[tuple[int, list[int], int]] = [(start, _succ(edges, start, active), 0)]
        while frames:
            v, succ, i = frames[-1]
            if i < len(succ):
                frames[-1] = (v, succ, i + 1)
                w = succ[i]
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    frames.append((w, _succ(edges, w, active), 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            frames.pop()
            if frames:
                parent = frames[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges[v]:
                    found.append(sorted(comp))
    return found


def _succ(edges: list[list[int]], v: int, active: set[int]) -> list[int]:
    return [w for w in edges[v] if w in active]
