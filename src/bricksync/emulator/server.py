"""The emulator's HTTP server: bearer auth, latency, faults, request log, JSON in and out."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError, unauthenticated
from .faults import FaultRule, Faults
from .workspace import EmulatedWorkspace, path_known, route
from .wsfs import RawBody, multipart_fields

log = logging.getLogger("bricksync.emulator")

DEFAULT_TOKEN = "dapi-emulator-token"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # route access logs to logging, quietly
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # ------------------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        emu = self.server.emulator
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        emu.faults.enter(method, path)
        try:
            if emu.latency_ms:
                time.sleep(emu.latency_ms / 1000)
            status, body, headers, fault = self._dispatch(emu, method, path, query, raw)
        except _Dropped:
            emu.faults.record(method, path, 0, True)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        finally:
            emu.faults.leave(method, path)
        emu.faults.record(method, path, status, fault)
        if isinstance(body, RawBody):  # workspace/export with direct_download=true: the bytes themselves
            payload, content_type = bytes(body), "application/octet-stream"
        else:
            payload, content_type = (body if isinstance(body, str) else json.dumps(body)).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, emu: EmulatorServer, method: str, path: str, query: dict, raw: bytes
                  ) -> tuple[int, Any, dict[str, str], bool]:
        if path == "/.well-known/databricks-config":
            return 404, {"error_code": "NOT_FOUND", "message": "Not found"}, {}, False
        if path.startswith("/__emulator/"):  # the emulator's own knobs (benchmarks, hand testing)
            return self._control(emu, method, path, raw)
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if token is None or (token != emu.token and token not in emu.readonly_tokens and token not in emu.users):
            err = unauthenticated()
            return err.status, err.body(), {}, False
        found = route(method, path)
        if found is None:
            code = 405 if path_known(path) else 404
            return code, {"error_code": "ENDPOINT_NOT_FOUND",
                          "message": f"No API found for '{method} {path}'"}, {}, False
        if token in emu.readonly_tokens and method != "GET":
            return 403, {"error_code": "PERMISSION_DENIED",
                         "message": f"User does not have permission to {method} {path}."}, {}, False
        rule = emu.faults.pick(method, path)
        if rule is not None and not rule.after:
            return self._fault(rule)
        try:
            ctype = self.headers.get("Content-Type", "")
            body = multipart_fields(raw, ctype) if ctype.startswith("multipart/form-data") else \
                json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            return 400, {"error_code": "MALFORMED_REQUEST", "message": f"Malformed request: {exc}"}, {}, False
        handler, match = found
        try:
            caller = emu.users.get(token or "", emu.workspace.user)  # another user's token acts as them
            with emu.workspace.lock, emu.workspace.acting_as(caller):  # serialised: responses share stored objects
                result = handler(emu.workspace, query, body, match)
                status, headers = 200, {}
                out = result if isinstance(result, RawBody) else json.dumps(result if result is not None else {})
        except ApiError as err:
            status, out, headers = err.status, err.body(), err.headers
        if rule is not None:  # the write happened; the caller never hears of it
            return self._fault(rule)
        return status, out, headers, False

    @staticmethod
    def _control(emu: EmulatorServer, method: str, path: str, raw: bytes) -> tuple[int, Any, dict[str, str], bool]:
        body = json.loads(raw) if raw else {}
        if path == "/__emulator/stats":
            return 200, {"counts": dict(emu.faults.counts()), "faults": emu.faults.faults_injected(),
                         "jobs": len(emu.workspace.jobs.jobs)}, {}, False
        if path == "/__emulator/reset-log" and method == "POST":
            emu.faults.reset_log()
            return 200, {}, {}, False
        if path == "/__emulator/latency" and method == "POST":
            emu.latency_ms = float(body.get("latency_ms", 0))
            return 200, {}, {}, False
        if path == "/__emulator/faults" and method == "POST":
            emu.faults.add(FaultRule(**body))
            return 200, {}, {}, False
        if path == "/__emulator/principals" and method == "POST":
            # {"users": [...], "groups": [...], "service_principals": [...], "admin": bool}
            with emu.workspace.lock:
                emu.workspace.add_principals(**body)
            return 200, {}, {}, False
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path}, {}, False

    @staticmethod
    def _fault(rule: FaultRule) -> tuple[int, Any, dict[str, str], bool]:
        if rule.drop:
            raise _Dropped
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        return rule.status, rule.body(), headers, True


class _Dropped(Exception):
    """The connection is closed with no response."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: EmulatorServer

    def __init__(self, address: tuple[str, int], listener: socket.socket | None = None):
        # A listener given by the caller is borrowed: served until stop(), never closed here, so a
        # test session can run a fresh emulator per test on one stable URL.
        self._borrowed = listener is not None
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, _Handler, bind_and_activate=listener is None)
        if listener is not None:
            self.socket.close()  # the unbound one the base class made
            self.socket = listener
            self.server_address = listener.getsockname()
            self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the keep-alive connections still open: after stop() no old connection is served."""
        with self._live_lock:
            live = list(self._live)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        if not self._borrowed:
            super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request or mid-response (closed, reset, timed out) is no
        error of the server's: one debug line, no traceback (socketserver's default prints one
        to stderr). Anything else is a bug and is shown as before."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


def random_id_base() -> int:
    """A random 15-digit start for job IDs, with room for a million jobs below 10**15."""
    return secrets.SystemRandom().randrange(10**14, 10**15 - 10**6)


class EmulatorServer:
    """One emulated workspace on a loopback port. Use as a context manager or start()/stop()."""

    def __init__(self, name: str = "workspace", *, host: str = "127.0.0.1", port: int = 0,
                 token: str = DEFAULT_TOKEN, latency_ms: float = 0, state_file: str | Path | None = None,
                 id_base: int | None = None, seed: int = 0, user: str = "bricksync@example.com",
                 readonly_tokens: tuple[str, ...] = (), listener: socket.socket | None = None,
                 users: dict[str, str] | None = None):
        # Each process its own ID space (random unless given), like real workspaces, whose job
        # IDs are 15-16 digits: an ID copied unmapped from one emulator to another is not found.
        self.id_base = id_base if id_base is not None else random_id_base()
        self.workspace = EmulatedWorkspace(name=name, user=user, id_base=self.id_base)
        self.token = token
        self.readonly_tokens = readonly_tokens
        # token -> user name: other workspace users (not admins), each acting as themself (tests of
        # what another prod user can do through the real SDK)
        self.users = dict(users or {})
        for other in self.users.values():
            self.workspace.add_user(other)
        self.latency_ms = latency_ms
        self.faults = Faults(seed=seed)
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.exists():
            self.workspace.restore(json.loads(self.state_file.read_text()))
        self._httpd = _Server((host, port), listener)  # `listener`: serve on this open socket (see _Server)
        self._httpd.emulator = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmulatorServer:
        # A short poll interval: stop() returns within ~5 ms (tests start and stop emulators by the hundred).
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.005},
                                        name=f"emulator-{self.url}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self.save()

    def save(self) -> None:
        if self.state_file:
            with self.workspace.lock:
                self.state_file.write_text(json.dumps(self.workspace.snapshot(), indent=1, sort_keys=True))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread:
            self._thread.join(timeout=5)
        self.save()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, token: str | None = None, **kwargs: Any):  # -> databricks.sdk.WorkspaceClient
        """A real databricks-sdk client for this workspace (PAT auth, nothing else from the env);
        `token`: another user's (see `users`)."""
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.url, token=token or self.token, auth_type="pat", **kwargs)


def serve_until_interrupted(server: EmulatorServer, *, seed_demo: bool, token_given: bool,
                            announce: Callable[[str], None]) -> None:
    """`bricksync emulator serve`: optionally seed sample jobs, say where it listens, serve until Ctrl-C."""
    if seed_demo:
        from .seed import seed_source

        server.start()
        seed_source(server.client())
    shown = "the one given with --token" if token_given else DEFAULT_TOKEN  # the fixed default is no secret
    announce(f"Emulated workspace at {server.url} (bearer token: {shown}). Ctrl-C to stop.")
    try:
        if server._thread:
            server._thread.join()
        else:
            server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
