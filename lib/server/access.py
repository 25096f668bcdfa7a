"""Who may run admin actions (retrain, promote, roll back), and who the caller is.

With ADMIN_TOKEN set: a Bearer token compared in constant time, and wrong tokens are
throttled per client. Without it: only clients on this machine, and never a request
whose forwarding headers come from a peer that is not a trusted proxy (behind a reverse
proxy every client looks local). Forwarding headers are believed only from the peers
listed in TRUSTED_PROXIES, as uvicorn's --forwarded-allow-ips does; everything else
keeps the address of the connection.

A state-changing request must also come from this site: a foreign Origin or a
Sec-Fetch-Site other than same-origin / none is refused (cross-site request forgery).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
# Wrong admin tokens allowed per client in a sliding window, then 429 until it slides.
MAX_AUTH_FAILURES = 10
AUTH_WINDOW_S = 60.0
MAX_TRACKED_CLIENTS = 10_000  # the throttle's own memory is bounded too


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    status: int  # 200 when allowed, else 401, 403 or 429
    reason: str
    retry_after_s: int | None = None


@dataclass(frozen=True)
class Caller:
    """The client as far as it can be trusted.

    address: the connection's peer, or the client a trusted proxy forwarded for.
    untrusted_forwarding: forwarding headers came from a peer that is not a trusted
    proxy (ignored for the address, but such a request is never "this machine").
    """

    address: str | None
    untrusted_forwarding: bool = False


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted if entry != "*")


def _is_trusted(host: str | None, trusted: tuple[str, ...]) -> bool:
    if not host or not trusted:
        return False
    if "*" in trusted:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(trusted))


def _forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    """Client addresses the proxies recorded, nearest proxy last."""
    if headers.get("x-forwarded-for"):
        return [part.strip() for part in headers["x-forwarded-for"].split(",") if part.strip()]
    if headers.get("forwarded"):  # RFC 7239: for=1.2.3.4, for="[2001:db8::1]:80"
        chain = []
        for element in headers["forwarded"].split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    value = value.strip('"')
                    if value.startswith("["):
                        value = value[1 : value.find("]")]
                    elif value.count(":") == 1:
                        value = value.split(":")[0]
                    chain.append(value)
        return chain
    return [headers["x-real-ip"].strip()] if headers.get("x-real-ip") else []


def resolve_caller(peer: str | None, headers: Mapping[str, str], trusted: tuple[str, ...]) -> Caller:
    """Who is calling: the peer, or (through trusted proxies) the first untrusted address
    of the forwarding chain read from the right, as uvicorn does."""
    forwarded = any(name in headers for name in FORWARDING_HEADERS)
    if not forwarded:
        return Caller(peer)
    if not _is_trusted(peer, trusted):
        return Caller(peer, untrusted_forwarding=True)
    chain = _forwarded_chain(headers)
    for address in reversed(chain):
        if not _is_trusted(address, trusted):
            return Caller(_valid_address(address))
    return Caller(_valid_address(chain[0]) if chain else peer)


def _valid_address(text: str) -> str | None:
    """An address a proxy forwarded, or None when it is not one (never echoed as is)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class AuthThrottle:
    """Wrong admin tokens per client in a sliding window; a client over the limit gets 429."""

    def __init__(self, max_failures: int = MAX_AUTH_FAILURES, window_s: float = AUTH_WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.total_failures = 0
        self.total_throttled = 0

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Seconds until this client may try again, or None when it may try now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) < self.max_failures:
                return None
            self.total_throttled += 1
            return max(1, math.ceil(times[0] + self.window_s - now))

    def record_failure(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self.total_failures += 1
            times = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
            times.append(now)
            self._failures[client] = times  # most recent last
            while len(self._failures) > MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)

    def status(self, now: float | None = None) -> dict[str, int]:
        now = time.monotonic() if now is None else now
        with self._lock:
            blocked = sum(
                1
                for times in self._failures.values()
                if len(times) >= self.max_failures and times[0] > now - self.window_s
            )
            return {"failures": self.total_failures, "throttled": self.total_throttled, "clients_blocked": blocked}

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.total_failures = self.total_throttled = 0


auth_throttle = AuthThrottle()  # one per process: the API and the pages share it


def check_admin(
    authorization: str | None, caller: Caller, admin_token: str | None, count_failure: bool = True
) -> AccessDecision:
    """The decision for one attempt; a wrong token counts against the client's throttle
    (count_failure=False: a page rerun showing the same wrong token again)."""
    if admin_token:
        key = caller.address or "unknown"
        wait = auth_throttle.retry_after(key)
        if wait is not None:
            return AccessDecision(
                False, 429, f"too many wrong admin tokens from this client: try again in {wait} s", wait
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AccessDecision(False, 401, "this action needs 'Authorization: Bearer <ADMIN_TOKEN>'")
        if not hmac.compare_digest(token.strip().encode(), admin_token.encode()):
            if count_failure:
                auth_throttle.record_failure(key)
            return AccessDecision(False, 403, "the admin token is wrong")
        return AccessDecision(True, 200, "admin token")
    if is_loopback(caller.address) and not caller.untrusted_forwarding:
        return AccessDecision(True, 200, "no ADMIN_TOKEN set: allowed from this machine")
    return AccessDecision(
        False,
        403,
        "admin actions are allowed only from this machine while ADMIN_TOKEN is not set: "
        "set ADMIN_TOKEN on the server and send 'Authorization: Bearer <token>'",
    )


SAFE_FETCH_SITES = ("same-origin", "none")


def cross_site_reason(headers: Mapping[str, str]) -> str | None:
    """Why a state-changing request looks sent by a page of another site, or None.

    Browsers send Sec-Fetch-Site and Origin with every such request; programs (curl, a
    client library) send neither and are not affected.
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAFE_FETCH_SITES:
        return f"a request from a page of another site is refused (Sec-Fetch-Site: {site[:30]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin) if origin != "null" else None
    host = headers.get("host", "")
    if parts is None or not parts.scheme or parts.netloc.lower() != host.lower():
        return "a request from a page of another origin is refused (its Origin is not this server)"
    return None
