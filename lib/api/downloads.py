"""GET /downloads/<token>: a file a page made for its browser session (lib.storage.downloads).

The link is the page's own: the token is unguessable and the file goes with its session,
so the route needs no other access check. The browser saves it under the page's name;
nothing else (a cache, a sniffing browser) may keep or run it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from lib.api.common import ApiError
from lib.storage.downloads import downloads

GONE = "no such download: it was replaced or has expired with its browser session; score the file again"


async def download(request: Request) -> Response:
    kept = downloads.get(request.path_params["token"])
    if kept is None or not kept.path.is_file():
        raise ApiError(404, GONE)
    return FileResponse(
        kept.path,
        media_type=kept.media_type,
        filename=kept.file_name,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
