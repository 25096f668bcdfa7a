"""The floor for the single-record benchmark: a bare Starlette app with one trivial JSON
route, served by the same server with the same options as the product."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


app = Starlette(routes=[Route("/live", live)])
