"""Request parsing and response helpers shared by the endpoints: bounded, strict and fast."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

MAX_BODY = 64 * 1024  # no legitimate OIDC request comes close; larger bodies get a 413
MAX_QUERY = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# ASCII digits only, and few of them: str.isdigit() also accepts "²" (which int() refuses) and
# int() refuses more than 4,300 digits; both used to escape as a 500. 18 digits is beyond any
# meaningful number of seconds or bytes.
UINT = re.compile(r"[0-9]{1,18}")


class OAuthError(Exception):
    """An RFC 6749 §5.2-shaped error: `error`, `error_description`, an HTTP status."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, self.status, {**NO_STORE, **self.headers})


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers, media_type="application/json")


def parse_uint(raw: str) -> int | None:
    """A non-negative decimal integer of at most 18 ASCII digits, else None."""
    return int(raw) if UINT.fullmatch(raw) else None


def parse_params(raw: bytes | str) -> dict[str, str]:
    """Parse urlencoded parameters; a repeated parameter is an error (RFC 6749 §3.1, §3.2)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "parameters are not valid UTF-8") from None
    params: dict[str, str] = {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_request", "malformed urlencoded parameters") from None
    for key, value in pairs:
        if key in params:
            raise OAuthError("invalid_request", f"parameter {key!r} is included more than once")
        params[key] = value
    return params


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        length = parse_uint(declared)
        if length is None:
            raise OAuthError("invalid_request", "malformed Content-Length")
        if length > MAX_BODY:
            raise OAuthError("invalid_request", "request body too large", status=413)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise OAuthError("invalid_request", "request body too large", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone before its body was whole: the answer reaches no one (uvicorn drops what is
        # sent to a closed connection), but it keeps the traceback out of the log.
        raise OAuthError("invalid_request", "the client left before its body ended") from None
    return b"".join(chunks)


async def read_form(request: Request) -> dict[str, str]:
    """The body of a POST that RFC 6749 requires to be application/x-www-form-urlencoded."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise OAuthError(
            "invalid_request", f"content type must be {FORM_TYPE}, not {content_type or 'none'}"
        )
    return parse_params(await read_body(request))


def query_params(request: Request) -> dict[str, str]:
    raw = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY:
        raise OAuthError("invalid_request", "query string too long", status=414)
    return parse_params(raw)
