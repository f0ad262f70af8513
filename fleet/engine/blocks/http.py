"""``http_request``: an HTTP call with httpx (an async block)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.credentials import CredentialSpec


async def _stopped(ctx: BlockContext, poll_s: float = 0.05) -> None:
    """Return once the run is stopped (a cancellation signal for the request)."""
    while not ctx.stopped:
        await asyncio.sleep(poll_s)


class HttpRequestBlock(Block):
    """Send a request; emit status, headers, body text and (when JSON) the parsed body."""

    id = "http_request"
    description = ("HTTP request (httpx): emits status, headers, body and data (parsed JSON); "
                   "params merge into the URL's query string; an optional credential fills "
                   "the auth header; a stopped run cancels it.")
    cost = 1.0  # one outside call per execution
    credentials = {"credential": CredentialSpec(
        description="api_key or oauth2: 'Bearer TOKEN'; basic: 'Basic base64(user:password)'")}

    class Input(BaseModel):
        url: str = Field(description="Absolute http(s) URL.")
        method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
        headers: dict[str, str] = Field(default_factory=dict)
        params: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")
        json_body: Any = Field(None, description="Sent as JSON when set.")
        body: str | None = Field(None, description="Sent as text when set.")
        timeout_s: float = Field(30.0, gt=0)
        raise_for_status: bool = Field(True, description="Fail the node on 4xx/5xx.")
        credential: str | None = Field(None, description="Id of a credential for the auth "
                                                         "header (decrypted only while the "
                                                         "request is made).")
        credential_header: str = Field("Authorization", min_length=1, description=(
            "Header the credential goes in: Authorization gets the Bearer/Basic scheme, "
            "any other header (e.g. X-API-Key) the bare key."))

    class Output(BaseModel):
        status: int = Field(description="The HTTP status code.")
        headers: dict[str, str] = Field(default_factory=dict)
        body: str = Field("", description="The response text.")
        data: Any = Field(None, description="The parsed body, when it is JSON.")

    async def run(self, inputs: Input, ctx: BlockContext) -> AsyncIterator[tuple[str, Any]]:
        if not inputs.url.startswith(("http://", "https://")):
            raise ValueError(f"url {inputs.url!r} must start with http:// or https://")
        headers = dict(inputs.headers)
        if inputs.credential:
            name, value = ctx.credential("credential").header(inputs.credential_header)
            headers[name] = value
        # The URL's own query string stays; `params` are merged into it (httpx would
        # replace it with an empty `params`).
        url = httpx.URL(inputs.url)
        if inputs.params:
            url = url.copy_merge_params(inputs.params)
        async with httpx.AsyncClient(timeout=inputs.timeout_s) as client:
            request = asyncio.ensure_future(client.request(
                inputs.method, url, headers=headers,
                json=inputs.json_body if inputs.json_body is not None else None,
                content=inputs.body if inputs.body is not None else None,
            ))
            stopped = asyncio.ensure_future(_stopped(ctx))
            await asyncio.wait({request, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not request.done():
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await request
                raise InterruptedError(f"{inputs.method} {inputs.url} cancelled: the run was "
                                       "stopped (timeout, cancel or shutdown)")
            stopped.cancel()
            response = request.result()
        if inputs.raise_for_status and response.status_code >= 400:
            raise RuntimeError(f"{inputs.method} {inputs.url} answered "
                               f"{response.status_code} {response.reason_phrase}")
        yield "status", response.status_code
        yield "headers", dict(response.headers)
        yield "body", response.text
        if "json" in response.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                yield "data", response.json()
