"""The transport's bounds, in process: bodies counted after decompression (done here, piece by
piece), header limits, and a deadline that covers the connection, the TLS handshake, the
request and the headers, not only the body. Each case is timed, and bombs are also bounded in
the memory they may take."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import brotli
import httpx
import pytest

from psc_testkit.client.config import load_target
from psc_testkit.client.evidence import Recorder
from psc_testkit.client.transport import (
    _DEADLINE,
    ACCEPT_ENCODING,
    BodyTooLarge,
    BoundedHTTPTransport,
    HeadersTooLarge,
    Http,
    RecordingTransport,
    tls_context,
)
from tests import hostile_server

DOCUMENT = (
    b'{"issuer": "https://example.org", "keys": [' + b",".join([b'{"kid": "k"}'] * 9000) + b"]}"
)


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = hostile_server.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def client(deadline: float = 3.0, max_body: int = 10 * 1024 * 1024, **timeouts) -> httpx.Client:
    transport = RecordingTransport(
        BoundedHTTPTransport(tls_context(None)), Recorder(), max_body, deadline=deadline
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeouts.pop("timeout", 1.0), **timeouts),
        headers={"Accept-Encoding": ACCEPT_ENCODING},
    )


def served(body: bytes, max_body: int = 10 * 1024 * 1024, **headers: str) -> httpx.Response:
    """`body` as a server sends it (already encoded, per `headers`), through the transport."""

    def handler(request: httpx.Request) -> httpx.Response:
        # A stream, not content=: httpx would decode content at once, bombs included.
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))

    transport = RecordingTransport(httpx.MockTransport(handler), Recorder(), max_body)
    with httpx.Client(transport=transport) as http:
        return http.get("http://provider.example/x")


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


# Decoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),  # what some servers send as deflate
        ("br", brotli.compress),
        ("gzip, br", lambda data: brotli.compress(gzip.compress(data))),
        ("identity", lambda data: data),
    ],
)
def test_bodies_are_handed_on_decoded(encoding, encode):
    response = served(encode(DOCUMENT), **{"Content-Encoding": encoding})
    assert response.content == DOCUMENT
    assert "content-encoding" not in response.headers or encoding == "identity"
    assert response.json()["issuer"] == "https://example.org"


def test_a_body_at_the_limit_passes_one_byte_more_does_not():
    assert len(served(b"a" * 1000, max_body=1000).content) == 1000
    with pytest.raises(BodyTooLarge, match=r"^body over 1000 bytes$"):
        served(b"a" * 1001, max_body=1000)
    packed = gzip.compress(b"a" * 1001)
    with pytest.raises(BodyTooLarge, match=r"^body over 1000 bytes after decompression$"):
        served(packed, max_body=1000, **{"Content-Encoding": "gzip"})


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_bomb_stops_at_the_limit_in_time_and_memory(encoding):
    bomb = hostile_server.bomb(encoding)  # 1 GiB of zeros
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(BodyTooLarge, match=r"^body over 10 MB after decompression$"):
            served(bomb, **{"Content-Encoding": encoding})
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 5
    assert peak < 40 * 1024 * 1024, f"{peak / 1e6:.0f} MB"  # the 10 MB kept, not 1 GiB


def test_stacked_bombs_are_bounded_too():
    inner = hostile_server.bomb("gzip")  # 1 MB that inflates to 1 GiB, compressed again
    with pytest.raises(BodyTooLarge, match="after decompression"):
        served(gzip.compress(inner), **{"Content-Encoding": "gzip, gzip"})


def test_unsupported_and_broken_encodings_are_one_line():
    with pytest.raises(httpx.DecodingError, match=r"^Content-Encoding 'zstd' is not supported"):
        served(b"(\xb5/\xfd...", **{"Content-Encoding": "zstd"})
    with pytest.raises(httpx.DecodingError, match=r"^gzip body does not decode: "):
        served(b"not gzip at all", **{"Content-Encoding": "gzip"})
    with pytest.raises(httpx.DecodingError, match=r"^br body does not decode: "):
        served(b"not brotli at all", **{"Content-Encoding": "br"})
    with pytest.raises(httpx.DecodingError, match=r"stacks 50 codings \(at most 4\)"):
        served(b"{}", **{"Content-Encoding": ", ".join(["gzip"] * 50)})


def test_bombs_and_limits_from_a_real_server(hostile):
    with client() as http:
        for mode, error, message in [
            ("gzip-bomb", BodyTooLarge, "body over 10 MB after decompression"),
            ("br-bomb", BodyTooLarge, "body over 10 MB after decompression"),
            ("token-gzip-bomb/token", BodyTooLarge, "body over 10 MB after decompression"),
            ("huge", BodyTooLarge, "body over 10 MB"),
            ("many-headers", HeadersTooLarge, "response has 3004 headers (at most 100)"),
            ("huge-header", HeadersTooLarge, "response headers over 64 KiB"),
        ]:
            started = time.monotonic()
            with pytest.raises(error) as caught:
                http.get(f"{hostile}/{mode}")
            assert str(caught.value) == message, mode
            assert time.monotonic() - started < 2, mode


def test_every_exchange_is_recorded_failed_ones_with_their_reason(hostile):
    recorder = Recorder()
    transport = RecordingTransport(BoundedHTTPTransport(tls_context(None)), recorder, deadline=3)
    with httpx.Client(transport=transport, timeout=1) as http:
        with pytest.raises(BodyTooLarge):
            http.get(f"{hostile}/gzip-bomb/.well-known/openid-configuration")
        http.get(f"{hostile}/many-keys/.well-known/openid-configuration")
    failed, ok = recorder.exchanges
    assert failed.error == "BodyTooLarge: body over 10 MB after decompression"
    assert ok.status == 200 and ok.error is None


# The deadline ---------------------------------------------------------------------------------


def test_a_server_dripping_its_headers_is_cut_at_the_deadline(hostile):
    started = time.monotonic()
    with client(deadline=1.5) as http, pytest.raises(httpx.ReadTimeout) as caught:
        http.get(f"{hostile}/header-drip/.well-known/openid-configuration")
    assert str(caught.value) == "response not complete after 1.5 s"
    assert time.monotonic() - started < 2.5
    assert _DEADLINE.get() is None  # the deadline was the exchange's, not the thread's


@pytest.fixture
def silent_listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A TCP port that accepts connections and then never says or reads anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener, accepted
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_tls_handshake_that_never_ends_is_cut_at_the_deadline(silent_listener):
    listener, _ = silent_listener
    port = listener.getsockname()[1]
    started = time.monotonic()
    # Per operation, 10 s would be allowed: the deadline (1 s) is what ends it.
    with client(deadline=1.0, timeout=10.0) as http, pytest.raises(httpx.ConnectTimeout) as caught:
        http.get(f"https://127.0.0.1:{port}/.well-known/openid-configuration")
    assert str(caught.value) == "response not complete after 1 s"
    assert time.monotonic() - started < 2


def test_a_request_the_server_never_reads_is_cut_at_the_deadline(silent_listener):
    listener, _ = silent_listener
    port = listener.getsockname()[1]
    started = time.monotonic()
    with client(deadline=1.0, timeout=10.0) as http, pytest.raises(httpx.WriteTimeout) as caught:
        http.post(f"http://127.0.0.1:{port}/token", content=b"x" * (64 * 1024 * 1024))
    assert str(caught.value) == "response not complete after 1 s"
    assert time.monotonic() - started < 3


def test_per_operation_timeouts_still_apply_within_the_deadline(hostile):
    started = time.monotonic()
    with client(deadline=30.0, timeout=0.5) as http, pytest.raises(httpx.ReadTimeout) as caught:
        http.get(f"{hostile}/hang")
    assert "not complete" not in str(caught.value)  # httpx's own read timeout, not ours
    assert time.monotonic() - started < 1.5


def test_the_deadline_is_per_exchange_with_keep_alive():
    """Several exchanges on one client each get the whole deadline (set and reset each time)."""

    def handler(request: httpx.Request) -> httpx.Response:
        time.sleep(0.4)
        return httpx.Response(200, content=b"{}")

    transport = RecordingTransport(httpx.MockTransport(handler), Recorder(), deadline=1.0)
    with httpx.Client(transport=transport) as http:
        for _ in range(4):  # 1.6 s in all, 0.4 s each
            assert http.get("http://provider.example/").status_code == 200


# The clients of a target ----------------------------------------------------------------------


def test_target_clients_ask_only_for_encodings_they_decode(hostile, tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'[target]\ndiscovery_url = "{hostile}/many-keys/.well-known/openid-configuration"\n'
        'timeout = 1\n[[clients]]\nclient_id = "c"\nauth_method = "none"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    http = Http(load_target(profile))
    try:
        http.back().get(f"{hostile}/many-keys/.well-known/openid-configuration")
        with pytest.raises(BodyTooLarge):
            http.browser.get(f"{hostile}/br-bomb/")
    finally:
        http.close()
    sent = dict(http.recorder.exchanges[0].request_headers)
    assert sent["accept-encoding"] == "gzip, deflate, br"
    assert "zstd" not in ACCEPT_ENCODING


def test_tls_still_verifies_and_presents_nothing_unasked():
    """A sanity check of the replaced pool: the context given is the one used."""
    context = tls_context(None)
    assert context.verify_mode == ssl.CERT_REQUIRED
    transport = BoundedHTTPTransport(context)
    assert transport._pool._ssl_context is context
    transport.close()
