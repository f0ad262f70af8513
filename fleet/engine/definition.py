"""The graph definition format, parsed into plain structures.

A definition (from a JSON or YAML graph file)::

    id: hello                      # graph id
    name: Hello                    # optional, defaults to the id
    description: ...
    timeout_s: 60                  # optional
    max_attempts: 3                # optional
    inputs:                        # graph inputs, each bound to node pins
      who: {type: string, required: true, targets: [greet.value]}
    nodes:
      - {id: greet, block: template, inputs: {template: "Hello {value}"}}
    links:
      - {source: a.value, sink: greet.value}
    outputs:                       # optional: run output name -> node.pin
      text: greet.text

Without ``outputs`` the run's outputs are the pins yielded by nodes that have
no outgoing links, named ``node.pin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.errors import InvalidInput

INPUT_TYPES: dict[str, tuple[type, ...] | None] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "any": None,
}


@dataclass(frozen=True)
class PinRef:
    """``node.pin``."""

    node: str
    pin: str

    def __str__(self) -> str:
        return f"{self.node}.{self.pin}"


@dataclass(frozen=True)
class NodeDef:
    """One node: an instance of a block with static inputs."""

    id: str
    block: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkDef:
    """Values yielded on ``source`` flow to ``sink``."""

    source: PinRef
    sink: PinRef

    def __str__(self) -> str:
        return f"{self.source} -> {self.sink}"


@dataclass(frozen=True)
class GraphInput:
    """A named input of the graph, bound to one or more node pins."""

    name: str
    type: str = "any"
    required: bool = False
    default: Any = None
    targets: tuple[PinRef, ...] = ()
    description: str = ""


@dataclass
class GraphDef:
    """A parsed graph definition."""

    id: str
    name: str
    description: str
    nodes: dict[str, NodeDef]
    links: list[LinkDef]
    inputs: dict[str, GraphInput]
    outputs: dict[str, PinRef]
    timeout_s: float | None
    max_attempts: int | None

    def links_from(self, node: str, pin: str) -> list[LinkDef]:
        """Links leaving ``node.pin``."""
        return [lk for lk in self.links if lk.source.node == node and lk.source.pin == pin]

    def incoming(self, node: str) -> list[LinkDef]:
        """Links entering ``node``."""
        return [lk for lk in self.links if lk.sink.node == node]

    def graph_input_pins(self, node: str) -> dict[str, str]:
        """pin -> graph input name, for the graph inputs bound to ``node``."""
        bound: dict[str, str] = {}
        for gi in self.inputs.values():
            for t in gi.targets:
                if t.node == node:
                    bound[t.pin] = gi.name
        return bound


def parse_ref(text: Any, where: str, problems: list[str]) -> PinRef | None:
    """Parse ``node.pin``, reporting a problem (and returning None) when malformed."""
    if not isinstance(text, str) or "." not in text:
        problems.append(f"{where}: {text!r} is not of the form 'node.pin'")
        return None
    node, _, pin = text.rpartition(".")
    if not node or not pin:
        problems.append(f"{where}: {text!r} is not of the form 'node.pin'")
        return None
    return PinRef(node, pin)


def parse(definition: Any) -> tuple[GraphDef, list[str]]:
    """Parse ``definition``, returning the graph and every structural problem found.

    Malformed parts are skipped (and reported) so that validation can go on
    and report the remaining problems too.
    """
    problems: list[str] = []
    if not isinstance(definition, dict):
        raise InvalidInput("a graph definition must be a mapping (JSON object / YAML mapping)",
                           [f"got {type(definition).__name__}"])
    d = definition
    gid = d.get("id")
    if not isinstance(gid, str) or not gid.strip():
        problems.append("graph: 'id' is required and must be a non-empty string")
        gid = ""
    elif len(gid) > 128:
        problems.append("graph: 'id' is longer than 128 characters")
    name = d.get("name", gid)
    if not isinstance(name, str):
        problems.append("graph: 'name' must be a string")
        name = str(name)
    description = d.get("description", "") or ""
    if not isinstance(description, str):
        problems.append("graph: 'description' must be a string")
        description = str(description)

    timeout_s = d.get("timeout_s")
    if timeout_s is not None and (isinstance(timeout_s, bool)
                                  or not isinstance(timeout_s, int | float) or timeout_s <= 0):
        problems.append(f"graph: timeout_s must be a positive number, got {timeout_s!r}")
        timeout_s = None
    max_attempts = d.get("max_attempts")
    if max_attempts is not None and (isinstance(max_attempts, bool)
                                     or not isinstance(max_attempts, int) or max_attempts < 1):
        problems.append(f"graph: max_attempts must be an integer >= 1, got {max_attempts!r}")
        max_attempts = None

    nodes: dict[str, NodeDef] = {}
    raw_nodes = d.get("nodes", [])
    if not isinstance(raw_nodes, list):
        problems.append("graph: 'nodes' must be a list")
        raw_nodes = []
    if not raw_nodes:
        problems.append("graph: it has no nodes")
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict):
            problems.append(f"nodes[{i}]: must be a mapping with id and block")
            continue
        nid, block, static = raw.get("id"), raw.get("block"), raw.get("inputs", {}) or {}
        if not isinstance(nid, str) or not nid or "." in nid:
            problems.append(f"nodes[{i}]: 'id' must be a non-empty string without dots, "
                            f"got {nid!r}")
            continue
        if nid in nodes:
            problems.append(f"node '{nid}': duplicate node id")
            continue
        if not isinstance(block, str) or not block:
            problems.append(f"node '{nid}': 'block' must be a block id")
            continue
        if not isinstance(static, dict):
            problems.append(f"node '{nid}': 'inputs' must be a mapping of pin to value")
            static = {}
        nodes[nid] = NodeDef(nid, block, dict(static))

    links: list[LinkDef] = []
    raw_links = d.get("links", []) or []
    if not isinstance(raw_links, list):
        problems.append("graph: 'links' must be a list")
        raw_links = []
    for i, raw in enumerate(raw_links):
        if not isinstance(raw, dict):
            problems.append(f"links[{i}]: must be a mapping with source and sink")
            continue
        src = parse_ref(raw.get("source"), f"links[{i}] source", problems)
        snk = parse_ref(raw.get("sink"), f"links[{i}] sink", problems)
        if src and snk:
            links.append(LinkDef(src, snk))

    inputs: dict[str, GraphInput] = {}
    raw_inputs = d.get("inputs", {}) or {}
    if not isinstance(raw_inputs, dict):
        problems.append("graph: 'inputs' must be a mapping of input name to its spec")
        raw_inputs = {}
    for iname, spec in raw_inputs.items():
        spec = spec if isinstance(spec, dict) else {}
        itype = spec.get("type", "any")
        if itype not in INPUT_TYPES:
            problems.append(f"graph input '{iname}': unknown type {itype!r}; use one of "
                            f"{', '.join(INPUT_TYPES)}")
            itype = "any"
        raw_targets = spec.get("targets", spec.get("target", []))
        if isinstance(raw_targets, str):
            raw_targets = [raw_targets]
        targets = []
        for t in raw_targets if isinstance(raw_targets, list) else []:
            ref = parse_ref(t, f"graph input '{iname}' target", problems)
            if ref:
                targets.append(ref)
        inputs[str(iname)] = GraphInput(str(iname), itype, bool(spec.get("required", False)),
                                        spec.get("default"), tuple(targets),
                                        str(spec.get("description", "")))

    outputs: dict[str, PinRef] = {}
    raw_outputs = d.get("outputs", {}) or {}
    if not isinstance(raw_outputs, dict):
        problems.append("graph: 'outputs' must be a mapping of output name to 'node.pin'")
        raw_outputs = {}
    for oname, ref_text in raw_outputs.items():
        ref = parse_ref(ref_text, f"graph output '{oname}'", problems)
        if ref:
            outputs[str(oname)] = ref

    graph = GraphDef(gid, name, description, nodes, links, inputs, outputs,
                     float(timeout_s) if timeout_s is not None else None, max_attempts)
    return graph, problems
