"""The console's HTTP API (FastAPI), served by the daemon beside its pipeline.

Reads come from the running gateway (open incidents, points, health) and from the store through
a read-only connection (closed incidents, timelines, reports); commands go through the gateway
exactly as the CLI's do and are answered once committed. Every route but the page, /healthz
and /metrics needs a session; what a role may do is checked with each route
(``gateway.console.routes``).
"""

# No "from __future__ import annotations": FastAPI reads the handlers' signatures at run time.

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gateway.console.context import Console
from gateway.console.guards import Guards
from gateway.console.routes import commissioning, incidents, live, points, session, site
from gateway.console.sessions import Reader, Sessions
from gateway.console.stream import Hub

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def create_app(gateway: "Gateway") -> FastAPI:
    """The console for a running gateway."""
    # site and playbooks are read from the gateway on each request: a reload replaces them
    reader = Reader(gateway.site.store_path)
    hub = Hub(gateway.engine.playbooks, lambda: gateway.site)
    gateway.pipeline.listeners.append(hub.publish)
    gateway.reload_listeners.append(lambda: setattr(hub, "playbooks", gateway.engine.playbooks))

    app = FastAPI(title="Alarm gateway console API", version="1",
                  description="Incidents, points and the live stream of the alarm gateway.",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.console = Console(gateway, reader, Sessions(gateway, reader), hub)
    app.state.hub = hub
    app.state.reader = reader
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.middleware("http")(_guard)
    app.add_middleware(Guards)  # outermost: before the body is read or anyone is known
    for module in (session, site, incidents, points, commissioning, live):
        app.include_router(module.router)
    return app


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                 "message": e["msg"]} for e in exc.errors()]
    first = problems[0] if problems else {"field": "body", "message": "invalid"}
    return JSONResponse(status_code=422, content={
        "error": f"{first['field']}: {first['message']}", "problems": problems, "code": "invalid",
        "params": {"field": {"zh": first["field"], "en": first["field"]}}})


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Every refusal in one shape, FastAPI's and Starlette's own included (a body that is not
    JSON, an unknown path): {"error": ...}, and for a command also "code" and "params"."""
    detail = exc.detail
    if detail == "There was an error parsing the body":
        detail = "the body is not JSON the console can read (UTF-8, not nested too deep)"
    # a command's refusal carries its code and particulars, for the page to say in its language
    content = detail if isinstance(detail, dict) else {"error": detail}
    return JSONResponse(status_code=exc.status_code, content=content, headers=exc.headers)


async def _guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
    has_body = request.headers.get("content-length", "0") != "0" \
        or "transfer-encoding" in request.headers
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and has_body \
            and request.url.path.startswith("/api/"):
        # a form on another site cannot send JSON without the browser asking first
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/json":
            return JSONResponse(status_code=415, content={
                "error": "send the body as application/json", "code": "json_only"})
    response: Response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin: the page's own requests carry their Origin (checked by Guards); nothing
    # leaves for another site
    response.headers["Referrer-Policy"] = "same-origin"
    path = request.url.path
    if path.endswith("/report") or path == "/api/kpi":
        # the printable reports: one page with its own style block and no script at all
        response.headers["Content-Security-Policy"] = REPORT_CSP
    else:
        response.headers["Content-Security-Policy"] = CSP
    return response
