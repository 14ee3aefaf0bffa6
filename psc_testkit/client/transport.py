"""HTTP clients for a target: bounded (a deadline, header and body limits), recorded, TLS as the
profile says.

One "browser" client carries the user's cookies (the provider's SSO session) across the run, so
one human login can serve every check; back-channel requests go through a client per TLS
identity (the mTLS client presents its certificate, the others none).

Bounded by construction, whatever the provider does:
- every exchange ends within its deadline: connect, TLS handshake, request, headers and body all
  run on a network backend whose reads and writes never wait past it;
- at most `MAX_HEADERS` response headers, `MAX_HEADER_BYTES` of them;
- at most `MAX_BODY` bytes of body, counted on the wire *and* after decompression, which is done
  here, piece by piece, so a small compressed bomb stops at the limit instead of inflating.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import brotli
import httpcore
import httpx

from psc_testkit.client.config import Target
from psc_testkit.client.destinations import Destinations
from psc_testkit.client.evidence import Recorder
from psc_testkit.client.flow import HttpRequest
from psc_testkit.client.replay import TlsFiles

USER_AGENT = "psc-testkit"
MAX_BODY = 10 * 1024 * 1024
MAX_HEADERS = 100  # real providers send 10 to 30
MAX_HEADER_BYTES = 64 * 1024
# Only what is decoded below, within the limit; zstd is not installed, so not asked for.
ACCEPT_ENCODING = "gzip, deflate, br"
PIECE = 64 * 1024  # the most a decoder yields at once: memory stays ~MAX_BODY + a few pieces
WRITE_SLICE = 16 * 1024  # requests are written in slices, each with the time left
MAX_CODINGS = 4  # "gzip, br" is the most real servers stack; each coding is one more decoder


class BodyTooLarge(httpx.DecodingError):
    """The response body passed the limit, on the wire or once decompressed."""


class HeadersTooLarge(httpx.RemoteProtocolError):
    """Too many response headers, or too many bytes of them."""


def tls_context(
    ca_file: Path | None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


class Http:
    def __init__(self, target: Target, recorder: Recorder | None = None) -> None:
        self.target = target
        self.recorder = recorder or Recorder()
        self._clients: dict[str | None, httpx.Client] = {}
        self._browsers: list[httpx.Client] = []
        # Checked before every request leaves: credentials go only to the profile's hosts.
        self.destinations = Destinations(target)
        self.browser = self.new_browser()

    def _client(
        self, context: ssl.SSLContext, certificate: bool = False, tls: TlsFiles | None = None
    ) -> httpx.Client:
        timeout = httpx.Timeout(self.target.timeout)
        transport = RecordingTransport(
            BoundedHTTPTransport(context),
            self.recorder,
            MAX_BODY,
            deadline=3 * self.target.timeout,
            tls=tls or TlsFiles(self.target.ca_file),
        )
        return httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
            event_hooks={"request": [self.destinations.hook(certificate)]},
        )

    def new_browser(self) -> httpx.Client:
        """A client with an empty cookie jar: a browser with no session at the provider."""
        browser = self._client(tls_context(self.target.ca_file))
        self._browsers.append(browser)
        return browser

    def back(self, client_id: str | None = None) -> httpx.Client:
        """The back channel of `client_id`: with its certificate if it has one. With no
        client named, no certificate at all, whichever client the profile lists first (a
        request "without a client certificate" must present none)."""
        client = (
            None
            if client_id is None
            else next((c for c in self.target.clients if c.client_id == client_id), None)
        )
        key = client.client_id if client and client.tls_cert_file else None
        if key not in self._clients:
            context = tls_context(
                self.target.ca_file,
                client.tls_cert_file if key else None,
                client.tls_key_file if key else None,
            )
            files = TlsFiles(
                self.target.ca_file,
                client.tls_cert_file if key else None,
                client.tls_key_file if key else None,
            )
            self._clients[key] = self._client(context, certificate=key is not None, tls=files)
        return self._clients[key]

    def send(self, request: HttpRequest, via: httpx.Client | None = None) -> httpx.Response:
        client = via or self.back(request.client_id)
        return client.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.form if request.form is not None else None,
        )

    def close(self) -> None:
        for client in [*self._browsers, *self._clients.values()]:
            client.close()


# The whole-exchange deadline ------------------------------------------------------------------


class Deadline:
    """When the current exchange must be over. httpx's timeouts are per operation: a server
    that drips a byte of its headers every half second never trips them; this does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def message(self) -> str:
        return f"response not complete after {self.seconds:g} s"


# Set by RecordingTransport around each exchange, read by the network streams below: a context
# variable, so concurrent threads each keep their own exchange's deadline.
_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "psc_testkit_deadline", default=None
)


def _clamp(timeout: float | None, timeout_error: type[Exception]) -> tuple[float | None, bool]:
    """The timeout to give one network operation, and whether the deadline is what limits it.
    Past the deadline, nothing is attempted: `timeout_error` with the deadline's message."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout, False
    left = deadline.left()
    if left <= 0:
        raise timeout_error(deadline.message())
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


class _Bounded:
    """Runs one network operation with the clamped timeout; a timeout that the deadline caused
    says so (instead of httpcore's bare "timed out")."""

    def __init__(self, timeout: float | None, timeout_error: type[Exception]) -> None:
        self.timeout, self.binding = _clamp(timeout, timeout_error)
        self.timeout_error = timeout_error

    def __enter__(self) -> _Bounded:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb) -> None:
        deadline = _DEADLINE.get()
        if self.binding and deadline and isinstance(exc, httpcore.TimeoutException):
            raise self.timeout_error(deadline.message()) from None


class DeadlineStream(httpcore.NetworkStream):
    """httpcore's socket stream whose every read, write and TLS handshake stops at the current
    exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _Bounded(timeout, httpcore.ReadTimeout) as bounded:
            return self._inner.read(max_bytes, bounded.timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # SyncStream.write loops over send() with one fixed timeout: slices give each part of a
        # (large) request only the time left.
        for start in range(0, len(buffer), WRITE_SLICE):
            with _Bounded(timeout, httpcore.WriteTimeout) as bounded:
                self._inner.write(buffer[start : start + WRITE_SLICE], bounded.timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The socket timeout bounds the whole handshake (Python ≥ 3.5), not each record.
        with _Bounded(timeout, httpcore.ConnectTimeout) as bounded:
            return DeadlineStream(
                self._inner.start_tls(ssl_context, server_hostname, bounded.timeout)
            )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's SyncBackend, with DeadlineStreams and connections that keep the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        # socket.create_connection gives *each* address of a name the whole timeout: a name
        # with ten black-holed addresses would take ten timeouts. Try them one by one, each
        # with the time left. (The lookup itself is the system resolver's, bounded by it.)
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found))
        error: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in addresses:
            try:
                with _Bounded(timeout, httpcore.ConnectTimeout) as bounded:
                    stream = self._inner.connect_tcp(
                        address, port, bounded.timeout, local_address, socket_options
                    )
                return DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                deadline = _DEADLINE.get()
                if deadline is not None and deadline.left() <= 0:
                    break
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        with _Bounded(timeout, httpcore.ConnectTimeout) as bounded:
            return DeadlineStream(
                self._inner.connect_unix_socket(path, bounded.timeout, socket_options)
            )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class BoundedHTTPTransport(httpx.HTTPTransport):
    """httpx's own transport (its exception mapping, TLS, keep-alive pool), with the pool on a
    DeadlineBackend. httpx has no parameter for the network backend, so the pool it builds is
    replaced by the same one (httpx 0.28's defaults) built with the backend."""

    def __init__(self, context: ssl.SSLContext, retries: int = 0) -> None:
        super().__init__(verify=context, retries=retries)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=retries,
            network_backend=DeadlineBackend(),
        )


# Bounded decompression ------------------------------------------------------------------------


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{limit / 1024:g} KiB" if limit >= 1024 else f"{limit} bytes"


class _Inflate:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), at most PIECE at once."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_retry = encoding == "deflate"
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._zlib.eof:  # what follows the end of the stream is ignored, as httpx does
            try:
                out = self._zlib.decompress(data, PIECE)
            except zlib.error as exc:
                if self._raw_retry:
                    self._raw_retry = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(f"{self.encoding} body does not decode: {exc}") from None
            self._raw_retry = False
            tail = self._zlib.unconsumed_tail
            if out:
                yield out
            elif tail:  # cannot happen with zlib; never spin on it if it does
                raise httpx.DecodingError(f"{self.encoding} body does not decode")
            if not tail and len(out) < PIECE:
                return  # input used up, no output pending
            data = tail

    def finish(self) -> Iterator[bytes]:
        return iter(())  # everything was drained in feed; a truncated stream ends as it is


class _Brotli:
    def __init__(self) -> None:
        self._brotli = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._brotli.process(data, output_buffer_limit=PIECE)
            # After a full piece, the rest comes from calls with no input, until one is empty.
            while out:
                yield out
                out = self._brotli.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            raise httpx.DecodingError(f"br body does not decode: {exc}") from None

    def finish(self) -> Iterator[bytes]:
        return iter(())


def _decoders(response: httpx.Response) -> list[_Inflate | _Brotli]:
    """The decoders for the response's Content-Encoding, in the order to apply them."""
    listed = ",".join(response.headers.get_list("content-encoding"))
    encodings = [e.strip().lower() for e in listed.split(",")]
    encodings = [e for e in encodings if e and e != "identity"]
    if len(encodings) > MAX_CODINGS:
        raise httpx.DecodingError(
            f"Content-Encoding stacks {len(encodings)} codings (at most {MAX_CODINGS})"
        )
    decoders: list[_Inflate | _Brotli] = []
    for encoding in reversed(encodings):
        if encoding in ("gzip", "x-gzip"):
            decoders.append(_Inflate("gzip"))
        elif encoding == "deflate":
            decoders.append(_Inflate("deflate"))
        elif encoding == "br":
            decoders.append(_Brotli())
        else:
            raise httpx.DecodingError(
                f"Content-Encoding {encoding!r} is not supported (asked for {ACCEPT_ENCODING})"
            )
    return decoders


def _through(decoders: list, data: bytes, index: int = 0) -> Iterator[bytes]:
    """`data` (bytes at stage `index`) through the remaining decoders, piece by piece."""
    if index == len(decoders):
        yield data
        return
    for piece in decoders[index].feed(data):
        yield from _through(decoders, piece, index + 1)


def _finish(decoders: list, index: int = 0) -> Iterator[bytes]:
    for stage in range(index, len(decoders)):
        for piece in decoders[stage].finish():
            yield from _through(decoders, piece, stage + 1)


# The recording transport ----------------------------------------------------------------------


class RecordingTransport(httpx.BaseTransport):
    """Wraps httpx's transport so every exchange, failed ones included, reaches the recorder,
    and bounds it: the deadline (with a BoundedHTTPTransport inside, from the first byte of the
    connection), the headers, and the body, decoded here and handed on already decoded."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        recorder: Recorder,
        max_body: int = MAX_BODY,
        deadline: float = 30.0,
        max_headers: int = MAX_HEADERS,
        max_header_bytes: int = MAX_HEADER_BYTES,
        tls: TlsFiles | None = None,
    ) -> None:
        self.inner = inner
        self.tls = tls  # for the replay commands: --cacert, --cert, --key
        self.recorder = recorder
        self.max_body = max_body
        self.deadline = deadline
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        started = time.perf_counter()
        deadline = Deadline(self.deadline)
        token = _DEADLINE.set(deadline)
        try:
            response = self._exchange(request, deadline)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.recorder.record(request, None, started, error=error, tls=self.tls)
            raise
        finally:
            _DEADLINE.reset(token)
        self.recorder.record(request, response, started, tls=self.tls)
        return response

    def _exchange(self, request: httpx.Request, deadline: Deadline) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.RemoteProtocolError as exc:
            if "Receive buffer too long" in str(exc):  # h11's cap on a header block, 100 KiB
                raise HeadersTooLarge(
                    f"response headers over {_size(self.max_header_bytes)}", request=request
                ) from None
            raise
        try:
            self._check_headers(response, request)
            body, decoded = self._read_body(response, request, deadline)
        finally:
            response.close()
        headers = response.headers
        if decoded:
            # The body is handed on decoded: headers about the encoded form would lie, and
            # httpx would decode it a second time.
            headers = httpx.Headers(
                [
                    (name, value)
                    for name, value in response.headers.raw
                    if name.lower() not in (b"content-encoding", b"content-length")
                ]
            )
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )

    def _check_headers(self, response: httpx.Response, request: httpx.Request) -> None:
        raw = response.headers.raw
        if len(raw) > self.max_headers:
            raise HeadersTooLarge(
                f"response has {len(raw)} headers (at most {self.max_headers})", request=request
            )
        if sum(len(name) + len(value) + 4 for name, value in raw) > self.max_header_bytes:
            raise HeadersTooLarge(
                f"response headers over {_size(self.max_header_bytes)}", request=request
            )

    def _read_body(
        self, response: httpx.Response, request: httpx.Request, deadline: Deadline
    ) -> tuple[bytes, bool]:
        decoders = _decoders(response)
        limit = self.max_body
        chunks: list[bytes] = []
        wire = size = 0

        def keep(pieces: Iterator[bytes]) -> None:
            nonlocal size
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    raise BodyTooLarge(
                        f"body over {_size(limit)} after decompression", request=request
                    )
                chunks.append(piece)

        for chunk in response.stream:
            wire += len(chunk)
            if wire > limit:
                raise BodyTooLarge(f"body over {_size(limit)}", request=request)
            if deadline.left() <= 0:
                raise httpx.ReadTimeout(deadline.message(), request=request)
            keep(_through(decoders, chunk) if decoders else iter((chunk,)))
        keep(_finish(decoders))
        return b"".join(chunks), bool(decoders)
