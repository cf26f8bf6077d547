"""Source-independent threaded HTTP/1.1 server base for the emulators.

The stdlib ``ThreadingHTTPServer`` with keep-alive, one thread per connection (daemon), quiet
logging, and three ways to answer: a full response, a response cut off halfway through its
declared ``Content-Length`` (then close), or a TCP reset without any response. The app is a
plain ``Callable[[Request], Response]`` that knows nothing about sockets.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import socketserver
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode

SendMode = Literal["full", "truncated", "reset"]
_INTERNAL_ERROR = b'{"error":{"message":"Emulator internal error"}}'


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    query: list[tuple[str, str]]  # in request order, blanks kept
    headers: HTTPMessage
    body: bytes = b""  # the raw request body (empty when none was sent)

    @property
    def target(self) -> str:
        """Method, path and query (in request order): one request's identity."""
        query = urlencode(self.query)
        return f"{self.method} {self.path}?{query}" if query else f"{self.method} {self.path}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    mode: SendMode = "full"


App = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "invoice-pipeline-emulator"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stalls
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # Always read the body, even if the app ignores it, to keep the connection in sync.
        body = self.rfile.read(length) if length > 0 else b""
        raw_path, _, query = self.path.partition("?")
        request = Request(
            self.command,
            unquote(raw_path),
            parse_qsl(query, keep_blank_values=True),
            self.headers,
            body,
        )
        try:
            response = self.server.app(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = Response(500, _INTERNAL_ERROR)
        try:
            self._send(response)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _send(self, response: Response) -> None:
        if response.mode == "reset":
            self.close_connection = True
            # Linger 0: the close below sends RST instead of FIN, like a dropped connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        body = response.body
        if response.mode == "truncated":
            self.close_connection = True
        reason = self.responses.get(response.status, ("Unknown",))[0]
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in response.headers),
            "Connection: close" if self.close_connection else "Connection: keep-alive",
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        elif response.mode == "truncated":
            body = body[: len(body) // 2]
        self.wfile.write(head + body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip ``HTTPServer.server_bind``'s ``getfqdn`` (a reverse DNS lookup)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so that their threads end and no request is served
        after ``stop``."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class HttpEmulatorServer:
    """Serves ``app`` on ``host:port`` (0 = a free port) in a background daemon thread."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server is not running")
        return self._server.server_port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("server already started")
        server = _Server((self.host, self._requested_port), self.app)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM (the previous handlers are restored afterwards); for
    serving an emulator in the foreground. Off the main thread only a KeyboardInterrupt ends it.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
