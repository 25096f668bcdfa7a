"""Cross-origin calls (CORS) from the pages of the origins CORS_ORIGINS lists.

Empty by default: no CORS header is ever sent and a page of another origin can change
nothing (lib.server.access.cross_site_reason). A listed origin's pages may call every
non-admin endpoint, preflight included; admin actions (train, promote, roll back,
shadow, outcomes) stay refused cross-origin whatever the list says, and their preflight
is refused, so a browser never even sends them.
"""

from __future__ import annotations

from lib.settings import Settings

EXPOSED_HEADERS = "X-Request-ID, Retry-After, Allow"
ALLOWED_HEADERS = frozenset({"content-type", "x-request-id"})
PREFLIGHT_MAX_AGE_S = 600


def origin_allowed(origin: str | None, settings: Settings) -> bool:
    """Whether a page of `origin` may call the non-admin API."""
    if not origin or not settings.cors_origins:
        return False
    return "*" in settings.cors_origins or origin.lower() in settings.cors_origins


def cors_headers(origin: str) -> dict[str, str]:
    """What an answer to an allowed origin carries (its origin echoed, never '*')."""
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS, "Vary": "Origin"}


def preflight_refusal(requested_method: str, requested_headers: str, methods: set[str]) -> str | None:
    """Why a preflight from an allowed origin is refused, or None."""
    if requested_method.upper() not in methods:
        return f"{requested_method[:20]} is not allowed on this endpoint"
    asked = {name.strip().lower() for name in requested_headers.split(",") if name.strip()}
    unexpected = sorted(asked - ALLOWED_HEADERS)
    if unexpected:
        return f"header {unexpected[0][:40]} may not be sent cross-origin (allowed: Content-Type, X-Request-ID)"
    return None


def preflight_headers(origin: str, methods: set[str]) -> dict[str, str]:
    return {
        **cors_headers(origin),
        "Access-Control-Allow-Methods": ", ".join(sorted(methods)),
        "Access-Control-Allow-Headers": "Content-Type, X-Request-ID",
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
    }
