"""What the two pull-request clients (edges/azdo.py, edges/github.py) share: one REST call with
bounded retries, the token kept out of every message, and the one way to create a comment that
never makes two.

Every wait is bounded: at most `attempts` tries, each pause at most `max_wait` seconds; a wait the
service asks for that is longer than that is reported instead of waited out. A call that is not
`repeatable` (creating a comment) is never sent again blindly: a 5xx or a lost connection raises
Ambiguous, and upsert() looks for the comment before it posts again.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from ..core.errors import BricksyncError
from ..core.secrets import redact

log = logging.getLogger(__name__)
Handle = TypeVar("Handle")


class RestError(BricksyncError):
    """A call to the service failed; the message says which and what to do."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, when there was one


class NotAPullRequest(Exception):
    """Not a pull-request run: nothing to post (the reason is the message)."""


class Ambiguous(Exception):
    """The request may or may not have been carried out (5xx, lost connection)."""


class Bearer(requests.auth.AuthBase):
    """The token as an auth object, not a default header: requests then never swaps in ~/.netrc
    credentials, drops it on a redirect to another host, and nothing prints it."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "Bearer(***)"


class RestClient:
    """One service's calls. Subclasses name the service, their error class, and say which answers
    are rate limits (rate_limited) and how a refusal is explained (denied)."""

    service = "the service"
    error: type[RestError] = RestError
    not_json_hint = ""

    def __init__(self, token: str, *, attempts: int = 5, max_wait: float = 30.0,
                 timeout: tuple[float, float] = (10.0, 60.0), sleep: Callable[[float], None] | None = None,
                 headers: dict[str, str] | None = None):
        self.attempts = attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self.sleep = sleep or time.sleep
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "bricksync", **(headers or {})})
        self._auth = Bearer(token)
        self.calls = 0

    # --- hooks ---------------------------------------------------------------------------------

    def rate_limited(self, resp: requests.Response, attempt: int) -> tuple[float | None, str] | None:
        """(seconds to wait or None for the usual backoff, why) when `resp` says "not now"; else None."""
        if resp.status_code == 429:
            return retry_after(resp), "Retry-After"
        return None

    def denied(self, resp: requests.Response, what: str) -> RestError:
        return self.error(f"could not {what}: {self.service} refused it (HTTP {resp.status_code}: "
                          f"{message(resp)})", resp.status_code)

    def backoff(self, attempt: int) -> float:
        return min(2.0 ** (attempt - 1), self.max_wait)

    # --- the call ------------------------------------------------------------------------------

    def call(self, method: str, url: str, what: str, *, body: Any = None, params: dict | None = None,
             repeatable: bool = True) -> Any:
        """The answer's JSON ({} when empty)."""
        return self.json(self.request(method, url, what, body=body, params=params, repeatable=repeatable))

    def request(self, method: str, url: str, what: str, *, body: Any = None, params: dict | None = None,
                repeatable: bool = True) -> requests.Response:  # long: one retry loop, every outcome named
        """One call with bounded retries. Not `repeatable`: a 5xx or lost connection raises Ambiguous
        for the caller to check, instead of sending again blindly."""
        for attempt in range(1, self.attempts + 1):
            self.calls += 1
            try:
                resp = self.session.request(method, url, params=params, json=body, auth=self._auth,
                                            timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__} talking to {host_of(url)}"
                log.debug("%s %s: %s", method, url, problem)
                if not repeatable:
                    raise Ambiguous(problem) from None
                if attempt == self.attempts:
                    raise self.error(f"could not {what}: {problem} ({attempt} attempts)") from None
                self.sleep(self.backoff(attempt))
                continue
            log.debug("%s %s -> %s", method, url, resp.status_code)
            if resp.status_code < 300:
                return resp
            limit = self.rate_limited(resp, attempt)
            if limit is None:
                if resp.status_code in (401, 403):
                    raise self.denied(resp, what)
                if resp.status_code < 500:
                    raise self.error(f"could not {what}: HTTP {resp.status_code} ({message(resp)})",
                                     resp.status_code)
                if not repeatable:
                    raise Ambiguous(f"HTTP {resp.status_code}: {message(resp)}")
                wait, why = None, ""
            else:
                wait, why = limit
            if attempt == self.attempts:
                raise self.error(f"could not {what}: HTTP {resp.status_code} after {attempt} attempts "
                                 f"({message(resp)})", resp.status_code)
            if wait is None:
                wait = self.backoff(attempt)
            elif wait > self.max_wait:
                raise self.error(f"could not {what}: {self.service} asks to wait {wait:.0f} s (HTTP "
                                 f"{resp.status_code}, {why}), longer than bricksync waits "
                                 f"({self.max_wait:.0f} s)", resp.status_code)
            log.debug("HTTP %s: retrying in %.1f s", resp.status_code, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def json(self, resp: requests.Response) -> Any:
        try:
            return resp.json() if resp.content else {}
        except ValueError:
            raise self.error(f"{self.service} answered {resp.request.method} {host_of(resp.url)} with "
                             f"something other than JSON{self.not_json_hint}") from None


def upsert(find: Callable[[], Handle | None], create: Callable[[], Handle], update: Callable[[Handle], None],
           *, attempts: int, pause: Callable[[int], None], error: type[RestError]) -> tuple[str, Handle]:
    """('created' | 'updated', handle) of bricksync's one comment: the one `find` finds is edited
    (one deleted meanwhile, 404, is created again); else it is created. A creation whose answer was
    lost (Ambiguous) is looked up before it is sent again, so a retry never leaves two comments."""
    own = find()
    if own is not None:
        try:
            update(own)
            return "updated", own
        except RestError as exc:
            if exc.status != 404:
                raise
    for attempt in range(1, attempts + 1):
        try:
            return "created", create()
        except Ambiguous as exc:
            own = find()
            if own is not None:
                update(own)
                return "created", own
            if attempt == attempts:
                raise error(f"could not create the plan comment: {exc}") from None
            pause(attempt)
    raise AssertionError("unreachable")


def message(resp: requests.Response) -> str:
    """The service's own error message (and a validation failure's details), short, one line, redacted."""
    try:
        doc = resp.json()
        text = str(doc.get("message") or "")
        details = [str(e.get("message") or e.get("code") or "") for e in doc.get("errors") or []
                   if isinstance(e, dict)]
        text = "; ".join([text, *[d for d in details if d]]) if details else text
    except (ValueError, AttributeError):
        text = resp.text if "json" in resp.headers.get("Content-Type", "") else ""
    text = " ".join(text.split())[:300] or resp.reason or "no message"
    return redact(text)


def retry_after(resp: requests.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def host_of(url: str) -> str:
    return url.split("/", 3)[2] if "://" in url else url
