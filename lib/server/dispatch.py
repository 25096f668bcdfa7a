"""API requests straight to their handler; everything else to the Streamlit app.

st.App puts seven layers in front of every route (error pages, path security, cookie
sessions, gzip, exception handlers, a router that tries the UI's routes first), which
cost more than scoring a record. None of them does anything for the API: its handlers
answer every error themselves in JSON, RequestGuard refuses malformed API paths, and the
API sets no cookie. So the API's routes are matched first, by a dict lookup for fixed
paths; a path no API route matches (a page, a `/_stcore` endpoint, a websocket) goes
to st.App unchanged.

A malformed API path ('..', '//', a control character) is refused here in JSON, as
RequestGuard refuses it inside st.App.

API responses are not compressed by the process: compressing a 10,000-prediction answer
at gzip level 9 (what st.App applied) costs more than scoring it; a reverse proxy
compresses when the network needs it (deploy/nginx.conf).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route

from lib.server.runtime_guard import API_PREFIXES, UNSAFE_PATH, refuse, unsafe_api_path

Scope = MutableMapping[str, Any]


class ApiFirst:
    """ASGI app: `routes` for the paths they match, `ui` for everything else."""

    def __init__(self, routes: Sequence[BaseRoute], ui: Any) -> None:
        self.ui = ui
        # A fixed path (no {parameter}) is found by one dict lookup: the child scope a
        # full match adds is always the same for it.
        self.fixed: dict[str, tuple[Route, Scope]] = {}
        self.parametric: list[BaseRoute] = []
        for route in routes:
            if isinstance(route, Route) and not route.param_convertors:
                self.fixed[route.path] = (route, {"endpoint": route.endpoint, "path_params": {}})
            else:
                self.parametric.append(route)

    def match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The API route this request goes to, with what it adds to the scope; None: the UI's."""
        found = self.fixed.get(scope["path"])
        if found is not None:
            return found
        for route in self.parametric:
            outcome, child = route.matches(scope)
            if outcome is Match.FULL:
                return route, child
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):  # a page or asset: straight on
            if unsafe_api_path(scope["path"]):
                await refuse(send, scope, 400, UNSAFE_PATH)
                return
            found = self.match(scope)
            if found is not None:
                route, child = found
                scope.update(child)
                await route.handle(scope, receive, send)
                return
        await self.ui(scope, receive, send)
