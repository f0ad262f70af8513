"""The dataflow engine: runs a graph definition node by node, durable or in memory.

The durable executor (:mod:`fleet.runs.execute`) drives it with checkpoint
hooks; :mod:`fleet.engine.memory` and sub-graphs run it without a database.

Semantics. A node without incoming links runs once, with its static inputs
and graph inputs. A node with incoming links runs each time it has a fresh
value on some linked pin and every required or linked pin has a value
(static, graph input, or one that arrived over a link): it consumes one
fresh value per pin that has one and reuses the last value of the others.
So fan-in waits for every required input, a pin that yields several values
triggers several executions of its sinks, and nothing is lost whatever the
order in which values arrive. An optional pin that is linked is awaited like
a required one until every node upstream of it has finished: then, if no value
came (the source took another branch), the node runs with the pin's default.

A node with a retry policy (:mod:`fleet.engine.retry`) that fails is executed
again after its backoff, as the same execution with the next attempt number;
each failed attempt is reported to the hook (``Finished.retry_note``).

Each execution has a deterministic ``exec_key`` (node id, digest of its
inputs, occurrence number), so a re-execution of the same run recognises
executions it finished before and replays their stored outputs instead of
running the block again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import json
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from fleet.engine import costs, threads
from fleet.engine.blocks.base import Block, BlockContext, Suspend
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.definition import GraphDef, LinkDef
from fleet.engine.retry import error_types, retry_note
from fleet.engine.services import BlockServices
from fleet.engine.suspension import SUBGRAPH
from fleet.engine.tracker import FlowEvent, NodeExecution
from fleet.engine.validate import check_inputs, parse_valid_cached, resolve_inputs

POLL_S = 0.02
RETRY_TICK_S = 0.05  # the longest sleep while only retries wait: stops are checked between


_SCALARS = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (models dumped, unknown objects as text)."""
    if type(value) in _SCALARS:
        return value  # already what the JSON round trip below would give back
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


def digest(inputs: dict[str, Any]) -> str:
    """A short stable digest of an execution's inputs."""
    text = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cap(value: Any, cap_bytes: int) -> tuple[Any, int, bool]:
    """``(data, size, truncated)``: the value itself when its JSON fits in ``cap_bytes``."""
    text = json.dumps(value, default=str)
    raw = text.encode()
    if len(raw) <= cap_bytes:
        return value, len(raw), False
    preview = raw[: max(0, cap_bytes - 96)].decode("utf-8", errors="ignore")
    return {"truncated": True, "size": len(raw), "preview": preview}, len(raw), True


@dataclass
class Execution:
    """One scheduled execution of a node."""

    key: str
    node_id: str
    block_id: str
    inputs: dict[str, Any]
    parents: list[str]
    attempt: int = 1  # 1, then 2, 3... when a retry policy runs it again


@dataclass
class Finished:
    """One execution that ended (or was replayed from its checkpoint)."""

    execution: Execution
    status: str  # completed | failed | suspended
    outputs: list[tuple[str, Any]]
    started_at: datetime
    ended_at: datetime
    error: str | None = None
    suspend: Suspend | None = None
    cpu_s: float = 0.0
    replayed: bool = False
    cost: float = 0.0  # what this execution cost (fleet.engine.costs); 0 when replayed
    error_types: tuple[str, ...] = ()  # the failed block's exception classes (retry ``errors:``)
    retry_note: str | None = None  # set when this failed attempt is followed by another

    @property
    def attempt(self) -> int:
        """The execution's attempt number (1 unless a retry policy ran it again)."""
        return self.execution.attempt

    @property
    def stored_key(self) -> str:
        """The key this attempt is stored under: the execution's key, except for a failed
        attempt that is retried (``key@attempt``), so the checkpoint keeps the plain key."""
        if self.retry_note is None:
            return self.execution.key
        return f"{self.execution.key}@{self.execution.attempt}"

    def record(self) -> NodeExecution:
        """The tracker's view of this execution."""
        status = "waiting" if self.status == "suspended" else self.status
        return NodeExecution(
            exec_key=self.stored_key, attempt=self.attempt, node_id=self.execution.node_id,
            block_id=self.execution.block_id, status=status, started_at=self.started_at,
            ended_at=self.ended_at, params=self.execution.inputs,
            result=[[p, v] for p, v in self.outputs] if self.status == "completed" else None,
            error=self.error, parents=list(self.execution.parents), replayed=self.replayed)


@dataclass
class Checkpoint:
    """A finished execution stored by an earlier attempt."""

    outputs: list[tuple[str, Any]]
    started_at: datetime
    ended_at: datetime


@dataclass
class DataflowResult:
    """How the dataflow stopped, and what it saw."""

    status: str  # completed | failed | suspended | timeout | stopped
    reason: str | None = None  # for stopped: cancelled | lease_lost | shutdown | ...
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    finished: list[Finished] = field(default_factory=list)
    events: list[FlowEvent] = field(default_factory=list)
    suspended: Finished | None = None

    @property
    def executed(self) -> int:
        """Executions actually run (not replayed)."""
        return sum(1 for f in self.finished if not f.replayed)

    @property
    def replayed(self) -> int:
        """Executions replayed from checkpoints."""
        return sum(1 for f in self.finished if f.replayed)

    @property
    def cost(self) -> float:
        """What the executions run here cost (replayed ones were charged before)."""
        return costs.total([f.cost for f in self.finished if not f.replayed])


# on_finished(finished, events) -> a stop reason, or None to go on.
FinishedHook = Callable[[Finished, list[FlowEvent]], str | None]


class Dataflow:
    """Runs one graph definition to its end, calling hooks as executions finish."""

    def __init__(
        self,
        graph: GraphDef,
        inputs: dict[str, Any],
        registry: BlockRegistry,
        *,
        run_id: str,
        concurrency: int,
        clock: Callable[[], datetime],
        deadline: datetime | None = None,
        checkpoints: dict[str, Checkpoint] | None = None,
        on_finished: FinishedHook | None = None,
        should_stop: Callable[[], str | None] | None = None,
        before_wait: Callable[[], None] | None = None,
        event_cap_bytes: int = 16_384,
        depth: int = 0,
        services: BlockServices | None = None,
        resumes: dict[str, dict[str, Any]] | None = None,
        tried: dict[str, int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.graph = graph
        self.inputs = inputs
        self.registry = registry
        self.run_id = run_id
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.deadline = deadline
        self.checkpoints = checkpoints or {}
        # Parked sub-graph executions decided since (exec key -> nested state, see
        # fleet.engine.suspension): they run again, replaying what they finished.
        self.resumes = resumes or {}
        # Attempts an earlier segment of the run made (exec key -> the last that failed):
        # an execution goes on from the next one, so a retry policy's limit holds across
        # a crash and each attempt keeps its own stored row.
        self.tried = tried or {}
        self.sleep = sleep  # waits between retries (tests inject one that moves the clock)
        self.on_finished = on_finished
        self.should_stop = should_stop
        # Called before the loop blocks (for blocks on other threads, or a retry's backoff):
        # the run lifecycle sends the checkpoints it holds back, so that none waits on a block.
        self.before_wait = before_wait
        self.event_cap_bytes = event_cap_bytes
        self.depth = depth
        # Credentials, files and redaction lent by the run lifecycle (none in memory).
        self.services = services or BlockServices()
        self.stop_event = threading.Event()
        shape = _shape(graph, registry)
        self._blocks = shape.blocks
        self._linked = shape.linked
        self._out_links = shape.out_links
        self._required = shape.required
        self._optional = shape.optional
        self._pin_sources = shape.pin_sources
        self._upstream = shape.upstream
        self._topo = shape.topo
        self._active: dict[str, int] = dict.fromkeys(graph.nodes, 0)  # not yet finished
        self._blocked: set[str] = set()  # nodes holding values they cannot use yet
        self._order = shape.order
        self._bound = shape.bound
        self._fresh: dict[str, dict[str, deque[tuple[Any, str]]]] = {
            nid: {} for nid in graph.nodes}
        self._last: dict[str, dict[str, tuple[Any, str]]] = {nid: {} for nid in graph.nodes}
        self._seen: dict[tuple[str, str], int] = {}
        self._outputs: dict[str, Any] = {}
        self._terminal = shape.terminal

    # --- building executions -----------------------------------------------

    def _base_inputs(self, node_id: str) -> dict[str, Any]:
        values = dict(self.graph.nodes[node_id].inputs)
        for pin, name in self._bound[node_id].items():
            if name in self.inputs:
                values[pin] = self.inputs[name]
        return values

    def _new_execution(self, node_id: str, inputs: dict[str, Any],
                       parents: list[str]) -> Execution:
        d = digest(inputs)
        n = self._seen.get((node_id, d), 0)
        self._seen[(node_id, d)] = n + 1
        self._active[node_id] += 1
        key = f"{node_id}:{d}:{n}"
        return Execution(key, node_id, self.graph.nodes[node_id].block, inputs, parents,
                         attempt=self.tried.get(key, 0) + 1)

    def _ready_executions(self, node_id: str,
                          settled: set[str] | None = None) -> list[Execution]:
        """Executions of ``node_id`` its pending values allow, consuming them.

        ``settled``: nodes that will run no more; an optional linked pin whose
        sources are all settled is no longer awaited (its default applies).
        """
        out: list[Execution] = []
        fresh, last = self._fresh[node_id], self._last[node_id]
        base = self._base_inputs(node_id)
        required = self._required[node_id]
        if settled:
            required = [p for p in required if p not in self._optional[node_id]
                        or not self._pin_sources[(node_id, p)] <= settled]
        while any(fresh.values()):
            if any(p not in base and not fresh.get(p) and p not in last for p in required):
                break  # a pin still waits for its value
            values, parents = dict(base), []
            for pin in self._linked[node_id]:
                queue = fresh.get(pin)
                if queue:
                    last[pin] = queue.popleft()
                if pin in last:
                    value, producer = last[pin]
                    values[pin] = value
                    parents.append(producer)
            out.append(self._new_execution(node_id, values, sorted(set(parents))))
        if any(fresh.values()):
            self._blocked.add(node_id)
        else:
            self._blocked.discard(node_id)
        return out

    def _release(self) -> list[Execution]:
        """Executions of blocked nodes whose missing optional pins can no longer arrive.

        A node is settled when none of its executions is pending and every node
        upstream of it is settled; walking in topological order, a node released
        here is pending again before the nodes below it are looked at.
        """
        if not self._blocked or not any(self._optional[n] for n in self._blocked):
            return []
        out: list[Execution] = []
        settled: set[str] = set()
        for nid in self._topo:
            if nid in self._blocked and self._optional[nid]:
                out.extend(self._ready_executions(nid, settled))
            if self._active[nid] == 0 and self._upstream[nid] <= settled:
                settled.add(nid)
        return out

    def _route(self, fin: Finished) -> tuple[list[Execution], list[FlowEvent]]:
        new: list[Execution] = []
        events: list[FlowEvent] = []
        node_id = fin.execution.node_id
        targets: set[str] = set()
        for pin, value in fin.outputs:
            links = self._out_links.get((node_id, pin), [])
            data, size, truncated = self._event_data(node_id, pin, value)
            for link in links:
                self._fresh[link.sink.node].setdefault(link.sink.pin, deque()).append(
                    (value, fin.execution.key))
                targets.add(link.sink.node)
                events.append(FlowEvent(fin.ended_at, node_id, pin, link.sink.node,
                                        link.sink.pin, data, size, truncated))
            if not links:
                events.append(FlowEvent(fin.ended_at, node_id, pin, None, None, data, size,
                                        truncated))
            for name, ref in self.graph.outputs.items():
                if ref.node == node_id and ref.pin == pin:
                    self._outputs[name] = value
            if not self.graph.outputs and node_id in self._terminal:
                self._outputs[f"{node_id}.{pin}"] = value
        # Sinks in definition order keep exec keys (and checkpoints) stable.
        for nid in sorted(targets, key=self._order.__getitem__):
            new.extend(self._ready_executions(nid))
        return new, events

    def _event_data(self, node_id: str, pin: str, value: Any) -> tuple[Any, int, bool]:
        """``cap`` of the value; over the cap, an artifact reference when the run can store one."""
        data, size, truncated = cap(value, self.event_cap_bytes)
        if truncated and self.services.spill is not None:
            ref = self.services.spill(node_id, pin, value, size)
            if ref is not None:
                data = ref
        return data, size, truncated

    # --- running one execution (in a worker thread) ------------------------

    def _run_block(self, ex: Execution) -> Finished:
        started = self.clock()
        cpu0 = time.thread_time()
        block_cls = self._blocks[ex.node_id]
        ctx = BlockContext(run_id=self.run_id, node_id=ex.node_id, graph_inputs=self.inputs,
                           stop_event=self.stop_event,
                           depth=self.depth, services=self.services,
                           credential_ids={p: ex.inputs[p] for p in block_cls.credentials
                                           if isinstance(ex.inputs.get(p), str)})
        ctx.run_subgraph = self._run_subgraph_of(ex, ctx)
        outputs: list[tuple[str, Any]] = []
        kinds: tuple[str, ...] = ()
        block: Block | None = None
        model: BaseModel | None = None
        try:
            try:
                model = block_cls.Input.model_validate(ex.inputs)
            except ValidationError as exc:
                raise ValueError(_validation_text(exc)) from None
            block = block_cls()
            result = block.run(model, ctx)
            pins = block_cls.output_pins()
            for pin, value in _collect(result):
                if pin not in pins:
                    raise ValueError(f"block yielded on unknown output pin {pin!r} "
                                     f"(outputs: {', '.join(pins)})")
                outputs.append((pin, to_jsonable(value)))
            status, error, suspend = "completed", None, None
            cost = costs.execution_cost(block, model, outputs)
        except Suspend as s:
            status, error, suspend, outputs = "suspended", None, s, []
            cost = costs.failure_cost(block, model)
        except Exception as exc:  # the node failed; the run decides what that means
            status, error, suspend, outputs = "failed", f"{type(exc).__name__}: {exc}", None, []
            kinds = error_types(exc)
            cost = costs.failure_cost(block, model)
        cost += ctx.nested_cost
        if self.services.scrub is not None:  # a secret never leaves the block unmasked
            outputs = [(p, self.services.scrub(v)) for p, v in outputs]
            error = self.services.scrub(error) if error is not None else None
        return Finished(ex, status, outputs, started, self.clock(), error, suspend,
                        cpu_s=time.thread_time() - cpu0, cost=cost,
                        error_types=kinds if status == "failed" else ())

    def _run_subgraph_of(self, ex: Execution, ctx: BlockContext | None = None
                         ) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
        state = self.resumes.get(ex.key)

        def run(definition: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
            return self._subgraph(definition, inputs, state, ctx)
        return run

    def _subgraph(self, definition: dict[str, Any], inputs: dict[str, Any],
                  state: dict[str, Any] | None = None,
                  ctx: BlockContext | None = None) -> dict[str, Any]:
        """Run a nested graph in memory; ``state``: what it finished before it parked.

        An approval or tool node waiting inside it parks this node in turn: the
        Suspend carries the nested state (see :mod:`fleet.engine.suspension`).
        The nested executions' costs are charged to the calling execution (``ctx``).
        """
        graph = parse_valid_cached(definition, self.registry)
        check_inputs(definition, inputs, self.registry, graph=graph)
        checkpoints, resumes = _nested_replay(state)
        flow = Dataflow(graph, resolve_inputs(graph, inputs), self.registry,
                        run_id=f"{self.run_id}/sub", concurrency=1, clock=self.clock,
                        deadline=self.deadline, event_cap_bytes=self.event_cap_bytes,
                        depth=self.depth + 1, services=self.services,
                        checkpoints=checkpoints, resumes=resumes, sleep=self.sleep,
                        should_stop=lambda: "stopped" if self.stop_event.is_set() else None)
        result = flow.run()
        if ctx is not None:  # the nested executions are charged to the calling one
            ctx.nested_cost += result.cost
        if result.status == "completed":
            return result.outputs
        if result.status == "suspended" and result.suspended is not None:
            inner = result.suspended
            assert inner.suspend is not None
            raise Suspend(inner.suspend.state,
                          f"sub-graph node '{inner.execution.node_id}': {inner.suspend.reason}",
                          _nested_state(inner, inner.suspend, result.finished))
        raise RuntimeError(f"sub-graph {graph.id} {result.status}: "
                           f"{result.error or result.reason}")

    # --- the loop ------------------------------------------------------------

    def _stop_reason(self) -> tuple[str, str] | None:
        if self.deadline is not None and self.clock() >= self.deadline:
            return "timeout", "timeout"
        if self.should_stop is not None:
            reason = self.should_stop()
            if reason:
                return "stopped", reason
        return None

    def run(self) -> DataflowResult:
        """Execute the graph until it completes, fails, suspends, times out or is stopped."""
        result = DataflowResult(status="completed")
        ready: deque[Execution] = deque()
        for nid in self.graph.nodes:
            if not self._linked[nid]:
                ready.append(self._new_execution(nid, self._base_inputs(nid), []))
        done: deque[Finished] = deque()
        # Blocks post what they did to one queue: cheaper to wait on than cf.wait, which
        # installs a waiter on every future in flight at each wake-up.
        posted: queue.SimpleQueue[tuple[Execution, Finished | None, BaseException | None]] = \
            queue.SimpleQueue()
        inflight: dict[str, Execution] = {}
        delayed: list[tuple[datetime, Execution]] = []  # retries waiting for their backoff
        halted = False  # a failure or suspension: launch nothing new
        pool = threads.shared()
        clean = False
        try:
            while True:
                settled_some = bool(done)
                while done:
                    fin = done.popleft()
                    result.finished.append(fin)
                    retry_in = self._retry_in(fin) if not halted else None
                    if retry_in is None:
                        self._active[fin.execution.node_id] -= 1
                    new, events = self._route(fin) if fin.status == "completed" else ([], [])
                    result.events.extend(events)
                    if self.on_finished is not None:
                        reason = self.on_finished(fin, events)
                        if reason:
                            result.status, result.reason = (
                                ("timeout", "timeout") if reason == "timeout"
                                else ("stopped", reason))
                            return result
                    if retry_in is not None:
                        delayed.append((self.clock() + timedelta(seconds=retry_in),
                                        dataclasses.replace(fin.execution,
                                                            attempt=fin.attempt + 1)))
                    elif fin.status == "failed" and result.status == "completed":
                        result.status = "failed"
                        result.error = (f"node '{fin.execution.node_id}' (block "
                                        f"'{fin.execution.block_id}') failed: {fin.error}")
                        halted = True
                    elif fin.status == "suspended" and result.status == "completed":
                        result.status, result.suspended, halted = "suspended", fin, True
                    ready.extend(new)
                if settled_some and not halted:
                    ready.extend(self._release())
                if delayed and not halted:
                    now = self.clock()
                    ready.extendleft(ex for due, ex in reversed(delayed) if due <= now)
                    delayed = [(due, ex) for due, ex in delayed if due > now]
                stop = self._stop_reason()
                if stop is not None:
                    result.status, result.reason = stop
                    return result
                while not halted and ready and len(inflight) < self.concurrency:
                    ex = ready.popleft()
                    cp = self.checkpoints.get(ex.key)
                    if cp is not None:
                        done.append(Finished(ex, "completed", list(cp.outputs), cp.started_at,
                                             cp.ended_at, replayed=True))
                    elif self._inline(ex):  # never waits: no hand-off to another thread
                        done.append(self._run_block(ex))
                        break  # its outcome first: a failure launches nothing more
                    else:
                        inflight[ex.key] = ex
                        pool.submit(self._run_and_post, ex, posted)
                if done:
                    continue
                if not inflight and (halted or not (ready or delayed)):
                    break
                if self.before_wait is not None:
                    self.before_wait()
                if not inflight:  # only retries wait: sleep towards the first one's due time
                    wait_s = (min(due for due, _ in delayed) - self.clock()).total_seconds()
                    self.sleep(min(max(wait_s, 0.0), RETRY_TICK_S))
                    continue
                try:
                    got = [posted.get(timeout=POLL_S)]
                except queue.Empty:
                    continue
                while True:
                    try:
                        got.append(posted.get_nowait())
                    except queue.Empty:
                        break
                # Completion order within one wake-up is made stable for replays.
                for ex, finished, crash in sorted(got, key=lambda item: item[0].key):
                    inflight.pop(ex.key)
                    if finished is None:
                        assert crash is not None, "a block was dropped from a live run"
                        raise crash  # a BaseException in a block (a crash) propagates
                    done.append(finished)
            result.outputs = dict(self._outputs)
            clean = True
            return result
        finally:
            if not clean:  # blocks still running see the stop; those not started never do
                self.stop_event.set()

    def _inline(self, ex: Execution) -> bool:
        """Whether this execution's block runs on the loop's own thread (it never waits)."""
        try:
            return self._blocks[ex.node_id].runs_inline(ex.inputs)
        except Exception:  # a block's own test failed: the safe way
            return False

    def _run_and_post(self, ex: Execution,
                      posted: queue.SimpleQueue[tuple[Execution, Finished | None,
                                                      BaseException | None]]) -> None:
        if self.stop_event.is_set():  # the run ended before this block started
            posted.put((ex, None, None))
            return
        try:
            posted.put((ex, self._run_block(ex), None))
        except BaseException as exc:  # handed to the loop, which re-raises it
            posted.put((ex, None, exc))

    def _retry_in(self, fin: Finished) -> float | None:
        """Seconds before a failed attempt runs again (setting its note), or None."""
        if fin.status != "failed":
            return None
        policy = self.graph.nodes[fin.execution.node_id].retry
        if policy is None or not policy.allows(fin.attempt, fin.error_types):
            return None
        delay = policy.delay_s(fin.attempt)
        fin.retry_note = retry_note(fin.execution.node_id, fin.attempt, policy, fin.error,
                                    delay)
        return delay


@dataclass(frozen=True)
class _Shape:
    """What a Dataflow derives from its graph and registry alone (read-only): built once
    per parsed graph and registry, not per run."""

    blocks: dict[str, type[Block]]
    linked: dict[str, set[str]]  # node -> its pins with links into them
    out_links: dict[tuple[str, str], list[LinkDef]]
    required: dict[str, list[str]]
    optional: dict[str, set[str]]
    pin_sources: dict[tuple[str, str], set[str]]
    upstream: dict[str, set[str]]
    topo: list[str]
    order: dict[str, int]
    bound: dict[str, dict[str, str]]
    terminal: set[str]


def _shape(graph: GraphDef, registry: BlockRegistry) -> _Shape:
    """The graph's :class:`_Shape` under ``registry``, cached on the parsed graph."""
    cached = graph.derived.get(id(registry))
    if cached is not None and cached[0] is registry and cached[1] == registry.changes:
        shape: _Shape = cached[2]
        return shape
    changes = registry.changes
    blocks = {nid: registry.get(n.block) for nid, n in graph.nodes.items()}
    linked: dict[str, set[str]] = {nid: set() for nid in graph.nodes}
    out_links: dict[tuple[str, str], list[LinkDef]] = {}
    pin_sources: dict[tuple[str, str], set[str]] = {}
    upstream: dict[str, set[str]] = {nid: set() for nid in graph.nodes}
    for lk in graph.links:
        linked[lk.sink.node].add(lk.sink.pin)
        out_links.setdefault((lk.source.node, lk.source.pin), []).append(lk)
        pin_sources.setdefault((lk.sink.node, lk.sink.pin), set()).add(lk.source.node)
        upstream[lk.sink.node].add(lk.source.node)
    pins = {nid: blocks[nid].input_pins() for nid in graph.nodes}
    sources = {lk.source.node for lk in graph.links}
    shape = _Shape(
        blocks=blocks, linked=linked, out_links=out_links,
        # A linked pin is awaited even when optional: fan-in waits for every link, until
        # the pin's sources have all finished (then its default is used, see _release).
        required={nid: [p for p, spec in pins[nid].items()
                        if spec.required or p in linked[nid]] for nid in graph.nodes},
        optional={nid: {p for p, spec in pins[nid].items()
                        if not spec.required and p in linked[nid]} for nid in graph.nodes},
        pin_sources=pin_sources, upstream=upstream,
        topo=_topological(list(graph.nodes), upstream),
        order={nid: i for i, nid in enumerate(graph.nodes)},
        bound={nid: graph.graph_input_pins(nid) for nid in graph.nodes},
        terminal={nid for nid in graph.nodes if nid not in sources})
    # keyed by the registry's identity, which the entry keeps alive (no reused id), and
    # valid while no block was registered since (a block may replace another)
    graph.derived[id(registry)] = (registry, changes, shape)
    return shape


def _topological(nodes: list[str], upstream: dict[str, set[str]]) -> list[str]:
    """``nodes`` with every node after the nodes upstream of it (Kahn; stable)."""
    remaining = {n: set(upstream[n]) for n in nodes}
    order: list[str] = []
    while remaining:
        free = [n for n in nodes if n in remaining and not remaining[n]]
        if not free:  # a cycle (refused by validation): keep the rest in definition order
            free = [n for n in nodes if n in remaining]
        for n in free:
            del remaining[n]
            order.append(n)
        for deps in remaining.values():
            deps.difference_update(free)
    return order


def _iso(value: datetime) -> str:
    return value.isoformat()


def _nested_state(inner: Finished, suspend: Suspend,
                  finished: list[Finished]) -> dict[str, Any]:
    """The resume state of a sub-graph node parked by ``inner`` (see fleet.engine.suspension)."""
    return {
        "kind": SUBGRAPH, "node": inner.execution.node_id, "exec_key": inner.execution.key,
        "state": suspend.state, "inner": suspend.resume,
        "started_at": _iso(inner.started_at),
        "checkpoints": {f.execution.key: {"outputs": [[p, v] for p, v in f.outputs],
                                          "started_at": _iso(f.started_at),
                                          "ended_at": _iso(f.ended_at)}
                        for f in finished if f.status == "completed"},
    }


def _nested_replay(state: dict[str, Any] | None) -> tuple[dict[str, Checkpoint],
                                                          dict[str, dict[str, Any]]]:
    """Checkpoints and resumes of a sub-graph that parked with ``state`` and was decided."""
    if not state:
        return {}, {}
    checkpoints = {
        key: Checkpoint([(p, v) for p, v in cp["outputs"]],
                        datetime.fromisoformat(cp["started_at"]),
                        datetime.fromisoformat(cp["ended_at"]))
        for key, cp in (state.get("checkpoints") or {}).items()}
    inner = state.get("inner")
    if isinstance(inner, dict) and inner.get("kind") == SUBGRAPH:
        return checkpoints, {state["exec_key"]: inner}
    if "decided" in state:
        started = datetime.fromisoformat(state["started_at"])
        checkpoints[state["exec_key"]] = Checkpoint(
            [(p, v) for p, v in state["decided"]], started, started)
    return checkpoints, {}


def _collect(result: Any) -> list[tuple[str, Any]]:
    if inspect.isasyncgen(result):
        agen: AsyncIterator[tuple[str, Any]] = result  # type: ignore[assignment]

        async def drain() -> list[tuple[str, Any]]:
            items: list[tuple[str, Any]] = []
            async for item in agen:
                items.append(item)
            return items
        return asyncio.run(drain())
    if inspect.iscoroutine(result):
        awaited = asyncio.run(result)
        return list(awaited or [])
    if result is None:
        return []
    return list(result)


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(input)"
        parts.append(f"input pin '{loc}': {err.get('msg')}")
    return "invalid inputs: " + "; ".join(parts)
