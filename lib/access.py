"""Who may run admin actions (retrain, promote, roll back).

With ADMIN_TOKEN set: a Bearer token compared in constant time. Without it: only
clients on this machine, and never a request that carries forwarding headers (behind a
reverse proxy every client looks local, so proxied deployments must set ADMIN_TOKEN).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    status: int  # 200 when allowed, else 401 or 403
    reason: str


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_admin(
    authorization: str | None, client_host: str | None, headers: Mapping[str, str], admin_token: str | None
) -> AccessDecision:
    if admin_token:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AccessDecision(False, 401, "this action needs 'Authorization: Bearer <ADMIN_TOKEN>'")
        if not hmac.compare_digest(token.strip().encode(), admin_token.encode()):
            return AccessDecision(False, 403, "the admin token is wrong")
        return AccessDecision(True, 200, "admin token")
    forwarded = any(name in headers for name in FORWARDING_HEADERS)
    if is_loopback(client_host) and not forwarded:
        return AccessDecision(True, 200, "no ADMIN_TOKEN set: allowed from this machine")
    return AccessDecision(
        False,
        403,
        "admin actions are allowed only from this machine while ADMIN_TOKEN is not set: "
        "set ADMIN_TOKEN on the server and send 'Authorization: Bearer <token>'",
    )
