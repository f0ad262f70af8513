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
      - {id: fetch, block: http_request, retry: {max_attempts: 3, backoff_s: 2}}
    links:
      - {source: a.value, sink: greet.value}
    outputs:                       # optional: run output name -> node.pin
      text: greet.text
    score_output: quality          # optional: the output holding a 0-1 correctness score

Without ``outputs`` the run's outputs are the pins yielded by nodes that have
no outgoing links, named ``node.pin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.engine.retry import RetryPolicy, parse_retry
from fleet.errors import InvalidInput

INPUT_TYPES: dict[str, tuple[type, ...] | None] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "any": None,
    # A stored file: the value is a reference {"artifact": ID}; the block receives the
    # file's content (resolved by the run lifecycle, see fleet.artifacts.refs).
    "artifact": (dict,),
}


def artifact_ref_id(value: Any) -> str | None:
    """The artifact id of a reference ``{"artifact": ID, ...}``, or None for anything else."""
    if isinstance(value, dict) and isinstance(value.get("artifact"), str) and value["artifact"]:
        return str(value["artifact"])
    return None


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
    retry: RetryPolicy | None = None  # None: a failure fails the node at once


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
    score_output: str | None = None  # the output that is the run's correctness score
    # What the engine derives from the parsed graph (fleet.engine.dataflow): never copied
    # by dataclasses.replace, never compared.
    derived: dict[int, Any] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)

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


MAX_ATTEMPTS = 1000  # the store's column is a 32-bit integer; no sane graph needs more


def _header(d: dict[str, Any], problems: list[str]) -> tuple[str, str, str, float | None,
                                                             int | None]:
    """id, name, description, timeout_s and max_attempts of a definition."""
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
    elif len(name) > 256:
        problems.append("graph: 'name' is longer than 256 characters")
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
                                     or not isinstance(max_attempts, int)
                                     or not 1 <= max_attempts <= MAX_ATTEMPTS):
        problems.append(f"graph: max_attempts must be an integer from 1 to {MAX_ATTEMPTS}, "
                        f"got {max_attempts!r}")
        max_attempts = None
    return gid, name, description, (float(timeout_s) if timeout_s is not None else None), \
        max_attempts


def _listed(d: dict[str, Any], key: str, what: str, problems: list[str]) -> list[Any]:
    raw = d.get(key, []) or []
    if not isinstance(raw, list):
        problems.append(f"graph: '{key}' must be a list{what}")
        return []
    return raw


def _mapping(d: dict[str, Any], key: str, what: str, problems: list[str]) -> dict[Any, Any]:
    raw = d.get(key, {}) or {}
    if not isinstance(raw, dict):
        problems.append(f"graph: '{key}' must be a mapping of {what}")
        return {}
    return raw


def _nodes(d: dict[str, Any], problems: list[str]) -> dict[str, NodeDef]:
    nodes: dict[str, NodeDef] = {}
    raw_nodes = _listed(d, "nodes", "", problems)
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
        nodes[nid] = NodeDef(nid, block, dict(static),
                             parse_retry(raw.get("retry"), nid, problems))
    return nodes


def _links(d: dict[str, Any], problems: list[str]) -> list[LinkDef]:
    links: list[LinkDef] = []
    for i, raw in enumerate(_listed(d, "links", "", problems)):
        if not isinstance(raw, dict):
            problems.append(f"links[{i}]: must be a mapping with source and sink")
            continue
        src = parse_ref(raw.get("source"), f"links[{i}] source", problems)
        snk = parse_ref(raw.get("sink"), f"links[{i}] sink", problems)
        if src and snk:
            links.append(LinkDef(src, snk))
    return links


def _inputs(d: dict[str, Any], problems: list[str]) -> dict[str, GraphInput]:
    inputs: dict[str, GraphInput] = {}
    for iname, spec in _mapping(d, "inputs", "input name to its spec", problems).items():
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
        for target in raw_targets if isinstance(raw_targets, list) else []:
            ref = parse_ref(target, f"graph input '{iname}' target", problems)
            if ref:
                targets.append(ref)
        inputs[str(iname)] = GraphInput(str(iname), itype, bool(spec.get("required", False)),
                                        spec.get("default"), tuple(targets),
                                        str(spec.get("description", "")))
    return inputs


def _outputs(d: dict[str, Any], problems: list[str]) -> dict[str, PinRef]:
    outputs: dict[str, PinRef] = {}
    for oname, ref_text in _mapping(d, "outputs", "output name to 'node.pin'",
                                    problems).items():
        ref = parse_ref(ref_text, f"graph output '{oname}'", problems)
        if ref:
            outputs[str(oname)] = ref
    return outputs


def _score_output(d: dict[str, Any], problems: list[str]) -> str | None:
    name = d.get("score_output")
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        problems.append(f"graph: score_output must be the name of one of the graph's outputs, "
                        f"got {name!r}")
        return None
    return name


def parse(definition: Any) -> tuple[GraphDef, list[str]]:
    """Parse ``definition``, returning the graph and every structural problem found.

    Malformed parts are skipped (and reported) so that validation can go on
    and report the remaining problems too.
    """
    if not isinstance(definition, dict):
        raise InvalidInput("a graph definition must be a mapping (JSON object / YAML mapping)",
                           [f"got {type(definition).__name__}"])
    problems: list[str] = []
    gid, name, description, timeout_s, max_attempts = _header(definition, problems)
    graph = GraphDef(gid, name, description, _nodes(definition, problems),
                     _links(definition, problems), _inputs(definition, problems),
                     _outputs(definition, problems), timeout_s, max_attempts,
                     _score_output(definition, problems))
    return graph, problems
