"""The server's outer wall, an ASGI middleware in front of every route.

In this order, before any route runs:

1. A declared ``Content-Length`` over the limit is refused (413) at once.
2. A request that may carry a body (any method but GET, HEAD, OPTIONS) must present a valid
   token first: nobody can make the server read, or hold in memory, a body before logging in.
   ``POST /login`` is the one exception: its body is the token.
3. Such a request authenticated by the cookie (a browser) must come from this server's own
   origin (``Origin``, or else ``Referer``, matching ``Host``): that stops cross-site and
   same-host-other-port request forgery. Bearer-token calls carry no ambient credential and are
   not checked.
4. The body is read as it arrives, chunked or not, and counted; past the limit the server stops
   reading and answers 413. The limit is small, so the body read so far is buffered and replayed
   to the route.

Every response gets the security headers (a Content-Security-Policy without inline script,
``nosniff``, no framing). Inline *styles* stay allowed: the dashboard draws its bars with
``style="width: ..."`` and a style attribute cannot run code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio

from labelwise.project.project import Project

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_TIMEOUT_S = 30.0  # the whole body of an unsafe request must arrive within this, else 408
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip


class BodyTooLargeError(Exception):
    pass


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def bearer_token(headers: dict[str, str]) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>``, or HTTP Basic with the token as
    password (Label Studio's "Connect model" form offers Basic only). Both are sent by the client
    itself, never by a browser on its own, so neither needs the Origin check."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if header.lower().startswith("basic "):
        try:
            return base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return None


def cookie_value(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def same_origin(headers: dict[str, str]) -> bool:
    """Whether a browser request says it comes from the page of this very server."""
    source = headers.get("origin") or headers.get("referer")
    host = headers.get("host")
    if not source or not host or source == "null":
        return False
    parts = urlsplit(source)
    return parts.netloc.lower() == host.lower()


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *SECURITY_HEADERS],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class Guard:
    """See the module docstring. ``authenticate(project, bearer, cookie)`` returns the credential that
    decided and the account it belongs to (``None``: no valid credential); both are left in the
    request's scope state under ``found_key`` for the route, which then need not look them up again."""

    def __init__(
        self,
        app: ASGIApp,
        project: Project,
        authenticate: Callable[[Project, str | None, str | None], tuple[Any, Any]],
        cookie: str,
        max_body: int,
        body_timeout: float = BODY_TIMEOUT_S,
        found_key: str = "credential",
    ) -> None:
        self.app, self.project, self.authenticate, self.found_key = app, project, authenticate, found_key
        self.cookie, self.max_body, self.body_timeout = cookie, max_body, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        headers = _headers(scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _reply(send, 413, f"request body over {self.max_body} bytes")
            return
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send_with_headers)
            return
        is_login = scope["path"] == "/login"
        bearer = bearer_token(headers)
        cookie = None if bearer else cookie_value(headers, self.cookie)
        if not is_login:
            found = await anyio.to_thread.run_sync(self.authenticate, self.project, bearer, cookie)
            if found[1] is None:
                await _reply(
                    send, 401, "a valid token is needed: use your login link or `Authorization: Bearer <token>`"
                )
                return
            scope.setdefault("state", {})[self.found_key] = found
        if bearer is None and not same_origin(headers):
            await _reply(send, 403, "cross-origin request refused: the Origin header must match this server")
            return
        try:
            # A client that sends headers and then stalls (or trickles) the body would hold a
            # connection and a worker forever: the body gets one deadline, counted from the headers.
            with anyio.fail_after(self.body_timeout):
                chunks = await self._read_body(receive)
        except BodyTooLargeError:
            await _reply(send, 413, f"request body over {self.max_body} bytes")
            return
        except TimeoutError:
            await _reply(send, 408, f"request body not received within {self.body_timeout:g} s")
            return
        if chunks is None:
            return
        await self.app(scope, self._replay(chunks, receive), send_with_headers)

    async def _read_body(self, receive: Receive) -> list[bytes] | None:
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                raise BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks

    @staticmethod
    def _replay(chunks: list[bytes], receive: Receive) -> Receive:
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would send

        return replay
