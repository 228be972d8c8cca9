"""What the REST fakes (tests/azdo_fake.py, tests/github_fake.py) share: a loopback HTTP server that
hands every request to the fake's `_handle`, the log of calls, and faults picked by method and path."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Fake = TypeVar("Fake", bound="FakeService")


@dataclass
class Fault:
    """A status answered on a method + path pattern, `count` times."""

    method: str
    path: str  # regex searched in the path
    status: int
    count: int = 1
    after: bool = False  # run the handler first (the write happens), then fail


class FakeService:
    """A mixin for the dataclass fakes: they hold `log` [(method, path, status)] and `faults` (each with
    method, path regex and count), and define `_handle(request_handler)`."""

    log: list[tuple[str, str, int]]
    faults: list[Any]

    def _start_server(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self: Fake) -> Fake:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def calls(self, method: str, pattern: str) -> int:
        return sum(1 for m, p, _ in self.log if m == method and re.search(pattern, p))

    def _fault(self, method: str, path: str) -> Any:
        """The first fault left for this call (its count taken down by one), or None."""
        with self._lock:
            for f in self.faults:
                if f.count > 0 and f.method == method and re.search(f.path, path):
                    f.count -= 1
                    return f
        return None
