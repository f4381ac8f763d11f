"""The live stream, health and metrics (these two need no login), and the page itself."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time.

import hmac
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from gateway.console.context import Ctx, User
from gateway.console.metrics import render_metrics
from gateway.console.sessions import token

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/api/stream", tags=["live"])
async def stream(request: Request, user: User, ctx: Ctx) -> StreamingResponse:
    """Server-Sent Events. A board left open counts as in use (it keeps the session from
    going idle); the stream ends when the session does (logout, expiry, user disabled)."""
    session = token(request)
    gateway = ctx.gateway
    hello = {"user": user.name, "now": gateway.clock(), "drill_until": gateway.drill_until,
             "drill": gateway.drill.to_json() if gateway.drill else None}

    async def still_valid() -> bool:
        return await ctx.sessions.user(session) is not None

    return StreamingResponse(ctx.hub.stream(hello, still_valid), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _may_see_details(request: Request, ctx: Ctx) -> bool:
    """console.health_details: open, loopback (this machine), or token (or this machine)."""
    console = ctx.gateway.site.console
    if console.health_details == "open":
        return True
    host = request.client.host if request.client else ""
    if host == "::1" or host.startswith("127."):
        return True
    given = request.headers.get("authorization", "")
    return (console.health_details == "token" and console.health_token is not None
            and hmac.compare_digest(given.encode(), f"Bearer {console.health_token}".encode()))


@router.get("/healthz", tags=["health"])
async def healthz(request: Request, ctx: Ctx) -> JSONResponse:
    health = ctx.gateway.health()
    code = 503 if health["status"] == "unhealthy" else 200
    if not _may_see_details(request, ctx):
        return JSONResponse(status_code=code, content={"status": health["status"]})
    return JSONResponse(status_code=code, content=health)


@router.get("/metrics", tags=["health"])
async def metrics(request: Request, ctx: Ctx) -> Response:
    if not _may_see_details(request, ctx):
        raise HTTPException(403, "the metrics are for this machine or the health token "
                                 "(console.health_details)")
    body, content_type = render_metrics(ctx.gateway, ctx.hub)
    return Response(body, media_type=content_type)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    return _static_file(STATIC, name)


@router.get("/static/js/{name}", include_in_schema=False)
async def script(name: str) -> FileResponse:
    """The page's ES modules (``static/js``)."""
    return _static_file(STATIC / "js", name)


def _static_file(folder: Path, name: str) -> FileResponse:
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(404, "not found")
    media = "text/javascript" if path.suffix == ".js" else None
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})
