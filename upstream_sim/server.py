"""HTTP plumbing for the simulator, and SimServer, its in-process handle.

Standard library only (http.server), so the simulator runs wherever Python does.
Choices that matter for the clients pointed at it:

* HTTP/1.1 with a Content-Length on every answer, so httpx keeps connections alive
  and a benchmark measures the simulated latency rather than TCP handshakes;
* one daemon thread per connection and a listen backlog of 1024, so hundreds of
  concurrent slow requests are queued, never refused;
* TCP_NODELAY, so small keep-alive answers are not held back by Nagle's algorithm;
* no per-request logging, so test and benchmark output stays readable.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from upstream_sim.app import Simulator
from upstream_sim.wire import Reply

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream-sim/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this long (frees their thread).
    timeout = 120
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request line on stderr."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        """Read the whole body, so the next request on this connection parses cleanly."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise _BodyError(400, "bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BodyError(413, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        raw_length = self.headers.get("Content-Length")
        if not raw_length:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _BodyError(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BodyError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True  # the stream position is unknown now
            self._write(Reply.json(exc.status, {"error": {"message": exc.message}}))
            return
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            reply = self.server.simulator.handle(method, parts.path, query, self.headers, body)
        except Exception:  # a simulator bug must still answer, not hang the client
            log.exception("upstream_sim: error handling %s %s", method, parts.path)
            reply = Reply.json(
                500, {"error": {"message": "simulator internal error", "type": "server_error"}}
            )
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up (e.g. it timed out on a "timeout" fault): nothing to do.
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for handlers sleeping through latency or a hang.
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse-DNS lookup that can
        # stall for seconds on a machine without network; the name is never needed.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock every handler thread still reading from an idle keep-alive socket."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are routine here (timeout faults); anything else is a bug."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class SimServer:
    """The simulated TMDB, Perplexity and xAI APIs on one loopback port.

    Usage::

        with SimServer(config={"movies": 45}) as sim:
            client = TmdbCatalog(base_url=sim.tmdb_base, ...)
            ...
            assert sim.stats()["calls"]["tmdb_list"] == 3

    ``port=0`` picks a free port; ``url`` tells which after start().
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, config: dict[str, Any] | None = None
    ) -> None:
        self._host = host
        self._port = port
        self.simulator = Simulator(config)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> SimServer:
        """Bind and serve on a background thread; returns self for chaining."""
        if self._httpd is not None:
            return self
        self.simulator.stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), self.simulator)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"upstream-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut sleeping handlers short, close idle connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.simulator.shut_down()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("SimServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def tmdb_base(self) -> str:
        return f"{self.url}/tmdb/3"

    @property
    def perplexity_base(self) -> str:
        return f"{self.url}/perplexity"

    @property
    def xai_base(self) -> str:
        return f"{self.url}/xai/v1"

    # -- control (same as the /_sim API, without HTTP) ------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the full current configuration."""
        return self.simulator.config_copy()

    def configure(self, **partial: Any) -> dict[str, Any]:
        """Merge a partial config (per-service dicts merged) and return the full config."""
        return self.simulator.configure(partial)

    def stats(self) -> dict[str, Any]:
        return self.simulator.stats.snapshot()

    def reset(self) -> None:
        """Zero every counter (and attempt number) and fill the rate limits' buckets;
        the configuration is kept."""
        self.simulator.stats.reset()
        self.simulator.buckets.reset()

    def release_sleepers(self) -> None:
        """Answer every request now sleeping (latency or hang) at once."""
        self.simulator.release_sleepers()
