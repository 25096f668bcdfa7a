"""GET /docs: the API's interactive documentation (Swagger UI) over the live /openapi.json.

The page and its scripts come from this process, from the files the pinned
swagger-ui-bundle-v2 package installs: no CDN, so it works offline and behind a firewall.
A strict Content-Security-Policy lets the page run only those scripts and call only this
server ("try it out" sends same-origin requests, which the CSRF check accepts).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from lib.api.common import ApiError

# Relative URLs: the page works at /docs and under a reverse proxy's prefix alike.
PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Prediction dashboard API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""
# Kept out of the page: the CSP allows no inline script.
START = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
  });
});
"""
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self' data:; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CACHED_S = 3600


@lru_cache(maxsize=1)
def _asset_folder() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@lru_cache(maxsize=len(ASSETS))
def _asset(name: str) -> bytes:
    return (_asset_folder() / name).read_bytes()


async def docs_page(request: Request) -> Response:
    return Response(PAGE, 200, {**SECURITY_HEADERS, "Cache-Control": "no-cache"}, media_type="text/html")


async def docs_asset(request: Request) -> Response:
    """One of the page's files: the allow-listed ones only (never a path from the request)."""
    name = request.path_params["asset"]
    if name == "start.js":
        body, kind = START, "text/javascript; charset=utf-8"
    elif name in ASSETS:
        body, kind = _asset(name), ASSETS[name]
    else:
        raise ApiError(404, "no such file of the documentation page", [{"code": "not_found"}])
    headers = {**SECURITY_HEADERS, "Cache-Control": f"public, max-age={CACHED_S}", "Content-Type": kind}
    return Response(body, 200, headers)
