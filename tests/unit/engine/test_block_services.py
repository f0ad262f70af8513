"""The engine's side of credentials, files and redaction, with no store behind it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.engine.credentials import CredentialSpec, CredentialValue
from fleet.engine.dataflow import Dataflow
from fleet.engine.definition import parse
from fleet.engine.memory import run_in_memory
from fleet.engine.services import BlockServices
from fleet.engine.validate import check_inputs
from fleet.errors import InvalidInput
from fleet.redact import SecretSet


class EchoKey(Block):
    id = "echo_key"
    description = "Emits its credential's secret (and fails when told to)."
    credentials = {"cred": CredentialSpec(kinds=("api_key",))}

    class Input(BaseModel):
        cred: str | None = None
        fail: bool = False

    class Output(BaseModel):
        text: str = ""

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        secret = ctx.credential("cred").secret
        if inputs.fail:
            raise ValueError(f"upstream refused {secret}")
        yield "text", f"the key is {secret}"


def _registry() -> BlockRegistry:
    return BlockRegistry([*builtin_blocks(), EchoKey])


def _flow(definition: dict[str, Any], services: BlockServices, cap: int = 16_384) -> Any:
    graph = parse(definition)[0]
    return Dataflow(graph, {}, _registry(), run_id="r", concurrency=1,
                    clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), services=services,
                    event_cap_bytes=cap).run()


def test_credentials_reach_the_block_and_its_outputs_and_errors_are_masked() -> None:
    secrets = SecretSet()
    asked: list[tuple[str, str, str]] = []

    def resolve(node: str, pin: str, cid: str) -> CredentialValue:
        asked.append((node, pin, cid))
        secrets.add("sk-abcdef123")
        return CredentialValue(id=cid, kind="api_key", secret="sk-abcdef123")

    services = BlockServices(credential=resolve, scrub=secrets.scrub)
    ok = _flow({"id": "g", "nodes": [{"id": "a", "block": "echo_key",
                                      "inputs": {"cred": "c-1"}}]}, services)
    assert asked == [("a", "cred", "c-1")]
    assert ok.outputs == {"a.text": "the key is ***"}
    assert ok.events[0].data == "the key is ***"
    bad = _flow({"id": "g", "nodes": [{"id": "a", "block": "echo_key",
                                       "inputs": {"cred": "c-1", "fail": True}}]}, services)
    assert bad.status == "failed" and "refused ***" in (bad.error or "")
    assert "sk-abcdef123" not in (bad.error or "")


def test_in_memory_runs_refuse_credentials_and_files_clearly() -> None:
    result = run_in_memory({"id": "g", "nodes": [{"id": "a", "block": "echo_key",
                                                  "inputs": {"cred": "c-1"}}]},
                           registry=_registry())
    assert result.status == "failed"
    assert "node 'a' input 'cred': credentials are only available" in (result.error or "")
    written = run_in_memory({"id": "w", "nodes": [{"id": "f", "block": "write_file",
                                                   "inputs": {"name": "x.txt",
                                                              "content": "hi"}}]},
                            registry=_registry())
    assert "files can only be written by runs executed by the fleet" in (written.error or "")


def test_outputs_over_the_cap_are_spilled_to_an_artifact_reference() -> None:
    spilled: list[tuple[str, str, int]] = []

    def spill(node: str, pin: str, value: Any, size: int) -> dict[str, Any]:
        spilled.append((node, pin, size))
        return {"artifact": "art-1", "truncated": True}

    big = "x" * 2000
    result = _flow({"id": "g", "nodes": [{"id": "c", "block": "constant",
                                          "inputs": {"value": big}}]},
                   BlockServices(spill=spill), cap=256)
    assert spilled == [("c", "value", 2002)]
    assert result.events[0].data == {"artifact": "art-1", "truncated": True}
    assert result.outputs == {"c.value": big}  # the run's own value is whole


def test_a_credential_pin_must_be_an_optional_input() -> None:
    class Bad(Block):
        id = "bad_cred"
        credentials = {"missing": CredentialSpec()}

        def run(self, inputs: Any, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
            yield from ()

    with pytest.raises(InvalidInput, match="not optional input pins"):
        BlockRegistry([Bad])


def test_artifact_inputs_take_a_reference() -> None:
    definition = {"id": "g", "inputs": {"doc": {"type": "artifact", "targets": ["t.value"]}},
                  "nodes": [{"id": "t", "block": "template", "inputs": {"template": "{value}"}}]}
    check_inputs(definition, {"doc": {"artifact": "abc"}}, _registry())
    with pytest.raises(InvalidInput) as err:
        check_inputs(definition, {"doc": "abc"}, _registry())
    assert "expected an artifact reference" in err.value.problems[0]
