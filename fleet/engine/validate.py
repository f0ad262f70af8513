"""Graph validation (before saving, scheduling and running) and graph-input checks.

Every problem is collected and reported at once, each naming its node and pin.
"""

from __future__ import annotations

import itertools
import json
import threading
import types
import typing
from collections import OrderedDict
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleet.engine.blocks.base import Block, type_name
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.definition import INPUT_TYPES, GraphDef, LinkDef, artifact_ref_id, parse
from fleet.errors import InvalidInput


def validate_graph(definition: dict[str, Any], registry: BlockRegistry) -> None:
    """Raise InvalidInput listing every problem of ``definition``; return when it is valid."""
    parse_valid(definition, registry)


def parse_valid(definition: dict[str, Any], registry: BlockRegistry) -> GraphDef:
    """Parse and validate ``definition`` (parsed once); InvalidInput lists every problem."""
    graph, problems = parse(definition)
    _check(graph, registry, problems)
    if problems:
        name = definition.get("id") if isinstance(definition, dict) else None
        raise InvalidInput(
            f"graph {name or '(no id)'} is invalid ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}); fix the graph file and try again",
            problems,
        )
    return graph


_PARSED: OrderedDict[tuple[int, str], tuple[BlockRegistry, GraphDef]] = OrderedDict()
_PARSED_LOCK = threading.Lock()
PARSED_CACHE_SIZE = 128


def parse_valid_cached(definition: dict[str, Any], registry: BlockRegistry) -> GraphDef:
    """:func:`parse_valid`, remembered for the same definition (by its JSON text) and
    registry: a definition run again and again (a sub-graph node, in-memory runs) is
    parsed and validated once. The graph returned is shared: callers do not change it."""
    try:
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # not JSON data: no key, the plain path reports it
        return parse_valid(definition, registry)
    key = (id(registry), text)
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
        if hit is not None and hit[0] is registry:
            _PARSED.move_to_end(key)
            return hit[1]
    graph = parse_valid(definition, registry)  # raises for an invalid one: never cached
    with _PARSED_LOCK:
        _PARSED[key] = (registry, graph)
        while len(_PARSED) > PARSED_CACHE_SIZE:
            _PARSED.popitem(last=False)
    return graph


Blocks = dict[str, type[Block]]


def _resolve_blocks(graph: GraphDef, registry: BlockRegistry, problems: list[str]) -> Blocks:
    blocks: Blocks = {}
    for node in graph.nodes.values():
        block = registry.find(node.block)
        if block is None:
            problems.append(f"node '{node.id}': unknown block '{node.block}' (known: "
                            f"{', '.join(registry.ids())})")
        else:
            blocks[node.id] = block
    return blocks


def _link_end_ok(graph: GraphDef, blocks: Blocks, link: LinkDef, problems: list[str]) -> bool:
    ok = True
    for end, ref, kind in (("source", link.source, "output"), ("sink", link.sink, "input")):
        if ref.node not in graph.nodes:
            problems.append(f"link {link}: {end} node '{ref.node}' does not exist")
            ok = False
        elif ref.node in blocks:
            pins = (blocks[ref.node].output_pins() if kind == "output"
                    else blocks[ref.node].input_pins())
            if ref.pin not in pins:
                problems.append(
                    f"link {link}: node '{ref.node}' pin '{ref.pin}': block "
                    f"'{graph.nodes[ref.node].block}' has no {kind} pin '{ref.pin}' "
                    f"({kind}s: {', '.join(pins) or 'none'})")
                ok = False
        else:
            ok = False
    return ok


def _check_links(graph: GraphDef, blocks: Blocks, problems: list[str]) -> set[tuple[str, str]]:
    """Every link's ends and types; returns the sink pins that are linked."""
    linked: set[tuple[str, str]] = set()
    for link in graph.links:
        if not _link_end_ok(graph, blocks, link, problems):
            continue
        linked.add((link.sink.node, link.sink.pin))
        src_t = blocks[link.source.node].output_pins()[link.source.pin].annotation
        dst_t = blocks[link.sink.node].input_pins()[link.sink.pin].annotation
        if not types_compatible(src_t, dst_t):
            problems.append(
                f"link {link}: node '{link.sink.node}' pin '{link.sink.pin}': type "
                f"mismatch, {type_name(src_t)} cannot flow into {type_name(dst_t)}")
    return linked


def _check_graph_inputs(graph: GraphDef, blocks: Blocks,
                        problems: list[str]) -> set[tuple[str, str]]:
    """Every graph input's targets; returns the pins they are bound to."""
    bound: set[tuple[str, str]] = set()
    for gi in graph.inputs.values():
        for t in gi.targets:
            if t.node not in graph.nodes:
                problems.append(f"graph input '{gi.name}': target node '{t.node}' does not exist")
            elif t.node in blocks:
                pins = blocks[t.node].input_pins()
                if t.pin not in pins:
                    problems.append(f"graph input '{gi.name}': node '{t.node}' has no input pin "
                                    f"'{t.pin}' (inputs: {', '.join(pins) or 'none'})")
                else:
                    bound.add((t.node, t.pin))
    return bound


def _check_node_inputs(graph: GraphDef, blocks: Blocks, fed: set[tuple[str, str]],
                       problems: list[str]) -> None:
    """Static values are valid for their pins; every required pin gets a value somehow."""
    for node in graph.nodes.values():
        if node.id not in blocks:
            continue
        pins = blocks[node.id].input_pins()
        for pin, value in node.inputs.items():
            if pin not in pins:
                problems.append(f"node '{node.id}' pin '{pin}': block '{node.block}' has no "
                                f"input pin '{pin}' (inputs: {', '.join(pins) or 'none'})")
                continue
            try:
                TypeAdapter(pins[pin].annotation).validate_python(value)
            except ValidationError as exc:
                problems.append(f"node '{node.id}' pin '{pin}': static value {value!r} is not "
                                f"a valid {pins[pin].type_name()} ({_first_error(exc)})")
        for pin, spec in pins.items():
            if spec.required and pin not in node.inputs and (node.id, pin) not in fed:
                problems.append(f"node '{node.id}' pin '{pin}': required input is missing; "
                                "give it a static value, link it, or bind a graph input to it")


def _check_outputs(graph: GraphDef, blocks: Blocks, problems: list[str]) -> None:
    for oname, ref in graph.outputs.items():
        if ref.node not in graph.nodes:
            problems.append(f"graph output '{oname}': node '{ref.node}' does not exist")
        elif ref.node in blocks and ref.pin not in blocks[ref.node].output_pins():
            problems.append(f"graph output '{oname}': node '{ref.node}' has no output pin "
                            f"'{ref.pin}'")


def _check_score_output(graph: GraphDef, blocks: Blocks, problems: list[str]) -> None:
    """``score_output`` names one of the outputs, and its pin can carry a number."""
    name = graph.score_output
    if name is None:
        return
    ref = graph.outputs.get(name)
    if ref is None:
        known = ", ".join(graph.outputs) or "none declared"
        problems.append(f"graph: score_output {name!r} is not one of the graph's outputs "
                        f"(outputs: {known}); name an output listed under 'outputs'")
        return
    pin = blocks[ref.node].output_pins().get(ref.pin) if ref.node in blocks else None
    if pin is not None and not types_compatible(pin.annotation, float):
        problems.append(f"graph: score_output {name!r} is {ref} of type {pin.type_name()}; "
                        "a correctness score must be a number from 0 to 1")


def graph_problems(definition: dict[str, Any], registry: BlockRegistry) -> list[str]:
    """Every problem of ``definition`` as readable lines (empty when valid)."""
    graph, problems = parse(definition)
    _check(graph, registry, problems)
    return problems


def _check(graph: GraphDef, registry: BlockRegistry, problems: list[str]) -> None:
    """Append every problem of the parsed ``graph`` to ``problems``."""
    blocks = _resolve_blocks(graph, registry, problems)
    linked = _check_links(graph, blocks, problems)
    bound = _check_graph_inputs(graph, blocks, problems)
    _check_node_inputs(graph, blocks, linked | bound, problems)
    _check_outputs(graph, blocks, problems)
    _check_score_output(graph, blocks, problems)
    cycle = find_cycle(graph)
    if cycle:
        problems.append(f"cycle: {' -> '.join(cycle)} (links may not loop back; "
                        "node and pin: " + ", ".join(_cycle_pins(graph, cycle)) + ")")


def _cycle_pins(graph: GraphDef, cycle: list[str]) -> list[str]:
    out = []
    for a, b in itertools.pairwise(cycle):
        for link in graph.links:
            if link.source.node == a and link.sink.node == b:
                out.append(str(link))
                break
    return out


def find_cycle(graph: GraphDef) -> list[str] | None:
    """A list of node ids forming a cycle (first repeated at the end), or None."""
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for link in graph.links:
        if link.source.node in succ and link.sink.node in succ:
            succ[link.source.node].append(link.sink.node)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(succ, white)
    for start in succ:
        if color[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        color[start] = grey
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                nxt = succ[node][i]
                if color[nxt] == grey:
                    return [*path[path.index(nxt):], nxt]
                if color[nxt] == white:
                    color[nxt] = grey
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                color[node] = black
                stack.pop()
                path.pop()
    return None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    return errors[0]["msg"] if errors else str(exc)


def _members(t: Any) -> list[Any]:
    origin = typing.get_origin(t)
    if origin is typing.Union or origin is types.UnionType:
        return list(typing.get_args(t))
    return [t]


def _simple_compatible(src: Any, dst: Any) -> bool:
    if src is Any or dst is Any or src == dst:
        return True
    if dst is type(None):
        return src is type(None)
    if src is type(None):
        return False
    s_origin, d_origin = typing.get_origin(src) or src, typing.get_origin(dst) or dst
    if typing.get_origin(typing.Literal[0]) in (typing.get_origin(src), typing.get_origin(dst)):
        return True  # literals are checked when the value arrives
    if not (isinstance(s_origin, type) and isinstance(d_origin, type)):
        return True  # exotic annotations are checked when the value arrives
    if d_origin is float and s_origin in (int, float):
        return True
    if s_origin is bool and d_origin is not bool:
        return d_origin in (int, float, object)
    return issubclass(s_origin, d_origin)


def types_compatible(src: Any, dst: Any) -> bool:
    """Whether a value of annotation ``src`` may flow into a pin of annotation ``dst``.

    Loose where types are loose (``Any``, unions: some member fits), strict
    where they are plain and different (``str`` into ``int``).
    """
    dst_members = _members(dst)
    src_members = [m for m in _members(src) if m is not type(None)] or [type(None)]
    return any(_simple_compatible(s, d) for s in src_members for d in dst_members)


def check_inputs(definition: dict[str, Any], inputs: dict[str, Any],
                 registry: BlockRegistry, *, graph: GraphDef | None = None) -> None:
    """Raise InvalidInput for unknown inputs, missing required ones and wrong types.

    ``graph``: ``definition`` already parsed (and valid), so it is not parsed again.
    """
    parse_problems: list[str] = []
    if graph is None:
        graph, parse_problems = parse(definition)
    problems: list[str] = []
    if parse_problems:
        problems.extend(parse_problems)
    if not isinstance(inputs, dict):
        raise InvalidInput("graph inputs must be a mapping of input name to value",
                           [f"got {type(inputs).__name__}"])
    for name in inputs:
        if name not in graph.inputs:
            problems.append(f"input '{name}': the graph has no such input (inputs: "
                            f"{', '.join(graph.inputs) or 'none'})")
    for gi in graph.inputs.values():
        if gi.name not in inputs:
            if gi.required and gi.default is None:
                problems.append(f"input '{gi.name}': required and not given")
            continue
        value = inputs[gi.name]
        allowed = INPUT_TYPES[gi.type]
        wrong = allowed is not None and (
            not isinstance(value, allowed)
            or (isinstance(value, bool) and gi.type in ("integer", "number")))
        if gi.type == "artifact" and artifact_ref_id(value) is None:
            problems.append(f"input '{gi.name}': expected an artifact reference "
                            f'{{"artifact": ID}} (upload with `fleet artifacts put`), got '
                            f"{type(value).__name__} {value!r:.60}")
        elif wrong:
            problems.append(f"input '{gi.name}': expected {gi.type}, got "
                            f"{type(value).__name__} {value!r:.60}")
    if problems:
        raise InvalidInput(f"inputs for graph {graph.id or '(no id)'} are invalid", problems)


def resolve_inputs(graph: GraphDef, inputs: dict[str, Any]) -> dict[str, Any]:
    """The graph inputs with defaults filled in."""
    values = {name: gi.default for name, gi in graph.inputs.items() if gi.default is not None}
    values.update(inputs)
    return values
