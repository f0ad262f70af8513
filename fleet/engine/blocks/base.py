"""The block contract: id, description, pydantic input/output models and ``run()``.

A block's input model's fields are its input pins (a field without a default
is a required pin); its output model's fields are its output pins. ``run()``
yields ``(pin, value)`` pairs, as a generator or an async generator; each
value flows along every link leaving that pin.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from fleet.engine import costs
from fleet.engine.credentials import CredentialSpec, CredentialValue
from fleet.engine.services import BlockServices

BlockResult = Iterator[tuple[str, Any]] | AsyncIterator[tuple[str, Any]]


class NoPins(BaseModel):
    """The model of a block without inputs or outputs."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PinSpec:
    """One pin of a block: its name, type annotation and whether it must be set."""

    name: str
    annotation: Any
    required: bool
    description: str = ""

    def type_name(self) -> str:
        """A readable name of the pin's type."""
        return type_name(self.annotation)


def type_name(annotation: Any) -> str:
    """``str``, ``list[int]``, ``Any``... for messages and tables."""
    if annotation is Any:
        return "Any"
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


class Suspend(Exception):
    """Raised by a block to park the run in a waiting state.

    ``state`` is ``waiting_approval`` or ``waiting_tool``. ``resume`` holds
    what the resume service needs to finish the node later: for approvals the
    ``(pin, value)`` pairs to emit when approved (``on_approve``), for tools
    the pin that receives the tool's result (``result_pin``) and the request.
    """

    def __init__(self, state: str, reason: str, resume: dict[str, Any]) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.resume = resume


@dataclass
class BlockContext:
    """What a running block may know and use besides its inputs."""

    run_id: str
    node_id: str
    graph_inputs: dict[str, Any] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Runs a nested graph definition in memory and returns its outputs.
    run_subgraph: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    depth: int = 0
    # Credential ids given to this execution's credential pins, and the run's services.
    credential_ids: dict[str, str] = field(default_factory=dict)
    services: BlockServices = field(default_factory=BlockServices)
    # What ran inside this execution beyond the block itself (a nested graph's node
    # executions) cost; added to the execution's own cost.
    nested_cost: float = 0.0

    def credential(self, pin: str) -> CredentialValue:
        """The decrypted credential given to input ``pin`` (only inside the block's run)."""
        credential_id = self.credential_ids.get(pin)
        where = f"node '{self.node_id}' input '{pin}'"
        if not credential_id:
            raise ValueError(f"{where}: no credential was given")
        if self.services.credential is None:
            raise RuntimeError(f"{where}: credentials are only available to runs executed by "
                               "the fleet (not in memory)")
        return self.services.credential(self.node_id, pin, credential_id)

    def write_file(self, name: str, data: bytes, content_type: str,
                   expires_in_s: float | None = None) -> dict[str, Any]:
        """Store ``data`` as an artifact of the run; returns its reference."""
        if self.services.write_file is None:
            raise RuntimeError(f"node '{self.node_id}': files can only be written by runs "
                               "executed by the fleet (not in memory)")
        return self.services.write_file(self.node_id, name, data, content_type, expires_in_s)

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False when the run was stopped meanwhile."""
        return not self.stop_event.wait(max(0.0, seconds))

    @property
    def stopped(self) -> bool:
        """Whether the run was cancelled, timed out or is shutting down."""
        return self.stop_event.is_set()


class Block:
    """Base class of every block. Subclasses set the class attributes and ``run``."""

    id: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Input: ClassVar[type[BaseModel]] = NoPins
    Output: ClassVar[type[BaseModel]] = NoPins
    # Credential inputs: optional ``str`` input pins holding a credential id (see
    # fleet.engine.credentials); the block reads the decrypted value with ctx.credential(pin).
    credentials: ClassVar[dict[str, CredentialSpec]] = {}
    # What one execution costs (fleet.engine.costs): this fixed amount, unless the
    # block overrides cost_of() to compute it from the inputs and outputs.
    cost: ClassVar[float] = 0.0
    # True for a block that never waits (no I/O, no sleep, no lock held by others): it
    # runs on its run's own thread, which saves two thread hand-offs per execution. A
    # block that may wait keeps False: it runs on a block thread, so that a timeout or a
    # cancel can still end the run while the block hangs.
    inline: ClassVar[bool] = False

    @classmethod
    def runs_inline(cls, inputs: dict[str, Any]) -> bool:
        """Whether an execution with these (raw) inputs runs on its run's own thread;
        by default the class's ``inline``."""
        return cls.inline

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """The cost of one execution given its validated inputs and the ``(pin, value)``
        pairs it yielded (empty when it failed); by default the fixed ``cost``."""
        return self.cost

    def run(self, inputs: Any, ctx: BlockContext) -> BlockResult:
        """Yield ``(pin, value)`` pairs; may be a generator or an async generator."""
        raise NotImplementedError(f"block {self.id!r} does not implement run()")

    @classmethod
    def input_pins(cls) -> dict[str, PinSpec]:
        """The input pins by name."""
        return _pins(cls.Input)

    @classmethod
    def output_pins(cls) -> dict[str, PinSpec]:
        """The output pins by name."""
        return _pins(cls.Output)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-ready description of the block and its pins."""
        return {
            "id": cls.id,
            "description": cls.description,
            "inputs": {n: {"type": p.type_name(), "required": p.required,
                           "description": p.description}
                       for n, p in cls.input_pins().items()},
            "outputs": {n: {"type": p.type_name(), "description": p.description}
                        for n, p in cls.output_pins().items()},
            "credentials": {n: {"kinds": list(c.kinds), "required": c.required,
                                "description": c.description}
                            for n, c in cls.credentials.items()},
            "cost": costs.declaration(cls).to_dict(),
        }


_PIN_CACHE: dict[type[BaseModel], dict[str, PinSpec]] = {}


def _pins(model: type[BaseModel]) -> dict[str, PinSpec]:
    # Computed once per model: validation and the scheduler ask for pins very often.
    pins = _PIN_CACHE.get(model)
    if pins is None:
        pins = {
            name: PinSpec(name, f.annotation if f.annotation is not None else Any,
                          f.is_required(), f.description or "")
            for name, f in model.model_fields.items()
        }
        _PIN_CACHE[model] = pins
    return dict(pins)
