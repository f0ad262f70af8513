"""A graph's credential inputs, checked against the user's credentials before it runs.

A run's (or schedule's) ``credentials`` map gives credential ids by the node
pin they feed (``"node.pin" -> id``), over the ids a graph gives statically in
a node's inputs. Every credential named must exist, belong to the user and
be of a kind the input takes; a required input must get one. Each problem
names the node and the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.credentials import CredentialSpec
from fleet.engine.definition import GraphDef, parse
from fleet.store import credentials as store

# (node id, pin) -> (spec, credential id or None)
Wanted = dict[tuple[str, str], tuple[CredentialSpec, str | None]]


def credential_pins(graph: GraphDef, registry: BlockRegistry) -> dict[tuple[str, str],
                                                                       CredentialSpec]:
    """Every credential input of the graph's nodes, by ``(node id, pin)``."""
    found: dict[tuple[str, str], CredentialSpec] = {}
    for node in graph.nodes.values():
        block = registry.find(node.block)
        for pin, spec in (block.credentials if block is not None else {}).items():
            found[(node.id, pin)] = spec
    return found


def map_problems(graph: GraphDef, credentials: Any,
                 pins: Mapping[tuple[str, str], CredentialSpec]) -> list[str]:
    """What is wrong with the shape of a credentials map (keys ``node.pin``, values ids)."""
    if not isinstance(credentials, dict):
        return ['credentials must be a mapping of "node.pin" to a credential id']
    known = ", ".join(f"{n}.{p}" for n, p in sorted(pins)) or "none"
    problems = []
    for key, value in credentials.items():
        node, _, pin = str(key).rpartition(".")
        if (node, pin) not in pins:
            what = (f"node '{node}' has no credential input '{pin}'" if node in graph.nodes
                    else f"'{key}' names no node's credential input")
            problems.append(f"{what} (credential inputs: {known})")
        elif not isinstance(value, str) or not value:
            problems.append(f"node '{node}' input '{pin}': the credential must be given by "
                            "its id")
    return problems


def wanted(graph: GraphDef, credentials: Mapping[str, Any], inputs: Mapping[str, Any],
           pins: Mapping[tuple[str, str], CredentialSpec]) -> Wanted:
    """The credential id each credential input will get: map, else graph input, else static."""
    out: Wanted = {}
    for (node_id, pin), spec in pins.items():
        value = credentials.get(f"{node_id}.{pin}")
        bound = graph.graph_input_pins(node_id).get(pin)
        if value is None and bound is not None:
            value = inputs.get(bound)
        if value is None:
            value = graph.nodes[node_id].inputs.get(pin)
        out[(node_id, pin)] = (spec, value if isinstance(value, str) and value else None)
    return out


def with_credentials(definition: dict[str, Any], credentials: Mapping[str, str]
                     ) -> dict[str, Any]:
    """``definition`` with the map's credential ids set as the nodes' static inputs."""
    if not credentials:
        return definition
    nodes = []
    for raw in definition.get("nodes", []):
        if isinstance(raw, dict):
            given = {k.rpartition(".")[2]: v for k, v in credentials.items()
                     if k.rpartition(".")[0] == raw.get("id")}
            if given:
                raw = {**raw, "inputs": {**(raw.get("inputs") or {}), **given}}
        nodes.append(raw)
    return {**definition, "nodes": nodes}


def credential_problems(session: Session, *, user_id: str, definition: dict[str, Any],
                        inputs: Mapping[str, Any] | None, credentials: Any,
                        registry: BlockRegistry) -> list[str]:
    """Every problem with the credentials the graph's nodes would get (empty when none)."""
    graph, _ = parse(definition)
    pins = credential_pins(graph, registry)
    credentials = {} if credentials is None else credentials
    problems = map_problems(graph, credentials, pins)
    if problems:
        return problems
    want = wanted(graph, credentials, inputs or {}, pins)
    owned = store.get_many_owned(session, user_id, [cid for _, cid in want.values() if cid])
    for (node_id, pin), (spec, cid) in sorted(want.items()):
        where = f"node '{node_id}' input '{pin}'"
        if cid is None:
            if spec.required:
                problems.append(f"{where}: a credential is required; give one with "
                                f"--credential {node_id}.{pin}=ID")
            continue
        found = owned.get(cid)
        if found is None:
            # Another user's credential is reported exactly as a missing one.
            problems.append(f"{where}: credential '{cid}' does not exist for user "
                            f"'{user_id}'; see `fleet credentials list`")
        elif found.kind not in spec.kinds:
            problems.append(f"{where}: credential '{cid}' is {found.kind}, but this input "
                            f"takes {', '.join(spec.kinds)}")
    return problems
