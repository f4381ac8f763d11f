"""The console's HTTP API (FastAPI), served by the daemon beside its pipeline.

Reads come from the running gateway (open incidents, points, health) and from the store through
a read-only connection (closed incidents, timelines, reports); commands go through the gateway
exactly as the CLI's do and are answered once committed. Every route but the page, /healthz
and /metrics needs a session; what a role may do is checked here.
"""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time,
# and the routes made in a loop name their body model through a local variable.

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.console import auth
from gateway.console.metrics import render_metrics
from gateway.console.stream import Hub, incident_summary, point_view
from gateway.domain.drill import MAX_MINUTES as MAX_DRILL_MINUTES
from gateway.domain.incident import Incident, to_json
from gateway.domain.model import SEVERITY_RANK
from gateway.engine.state import OperatorCommand, statement
from gateway.engine.workflow import incident_records
from gateway.playbook.definition import Playbook
from gateway.store import SharedReader
from gateway.store.records import Records

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway

T = TypeVar("T")
STATIC = Path(__file__).with_name("static")
COOKIE = "ag_session"
LOGIN_FAILURES = 5  # per user name within LOGIN_WINDOW, then a pause
LOGIN_WINDOW = 300.0
LOGIN_PAUSE = 60.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Body):
    username: Name
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class NoteBody(Body):
    note: Text = ""


class RequiredNoteBody(Body):
    note: Required


class DecideBody(Body):
    branch: Name
    option: Name
    note: Text = ""


class StepBody(Body):
    step: Name
    note: Text = ""


class ArriveBody(Body):
    role: Name
    who: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    note: Text = ""


class AnswerBody(Body):
    prompt: Name
    answer: Literal["yes", "no"]
    note: Text = ""


class TextBody(Body):
    text: Required


class RecordBody(Body):
    field: Name
    value: Required


class AssignBody(Body):
    commander: Name


class CloseBody(Body):
    handling: Required
    analysis: Required
    improvement: Required


class ReopenBody(Body):
    reason: Required


class FollowUpBody(Body):
    task: Name
    note: Required


class OpenBody(Body):
    playbook: Name
    building: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    floor: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    zone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    reporter: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    note: Text = ""
    drill: bool = False


class ShelveBody(Body):
    minutes: float = Field(60.0, ge=1, le=24 * 60)
    reason: Required


class DrillBody(Body):
    minutes: float = Field(30.0, ge=1, le=MAX_DRILL_MINUTES)
    # the scope: a drill's signals are those of these buildings and points (none: only the
    # signals that mark themselves as drill)
    buildings: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        default_factory=list, max_length=50)
    points: list[Annotated[str, StringConstraints(max_length=80)]] = Field(
        default_factory=list, max_length=500)


# verb → (body model, summary)
VERBS: dict[str, tuple[type[Body], str]] = {
    "ack": (NoteBody, "acknowledge (is not resolve)"),
    "confirm": (NoteBody, "confirm the alarm after verification"),
    "reject": (RequiredNoteBody, "reject: a false alarm, with its cause"),
    "decide": (DecideBody, "take a branch of the playbook"),
    "step": (StepBody, "mark a step done"),
    "arrive": (ArriveBody, "record an arrival on scene"),
    "answer": (AnswerBody, "answer a prompt yes or no"),
    "note": (TextBody, "add a note"),
    "record": (RecordBody, "fill a record field"),
    "assign": (AssignBody, "name the commander"),
    "resolve": (NoteBody, "the emergency is over; the review is still to come"),
    "close": (CloseBody, "close with the review (supervisor)"),
    "reopen": (ReopenBody, "reopen a resolved or closed incident (supervisor)"),
    "follow_up": (FollowUpBody, "a follow-up visit or call done"),
}


class Reader:
    """The store's reads from worker threads, one at a time on one read-only connection."""

    def __init__(self, path: Path) -> None:
        self._shared = SharedReader(path)

    async def __call__(self, fn: Callable[[Records], T]) -> T:
        return await asyncio.to_thread(self._shared.run, fn)

    def close(self) -> None:
        self._shared.close()


RECHECK = 30.0  # seconds a cached session is trusted before the store is asked again


@dataclass(slots=True)
class _Session:
    user: auth.User
    expires_at: float
    last_seen: float
    checked_at: float


class Sessions:
    """Session tokens → users, kept in the store, cached here with their idle time."""

    def __init__(self, gateway: "Gateway", reader: Reader) -> None:
        self.gateway = gateway
        self.reader = reader
        self.cache: dict[str, _Session] = {}
        self.failures: dict[str, list[float]] = {}

    async def login(self, name: str, password: str) -> tuple[auth.User, str, float]:
        now = self.gateway.clock()
        recent = [t for t in self.failures.get(name, []) if now - t < LOGIN_WINDOW]
        if len(recent) >= LOGIN_FAILURES and now - recent[-1] < LOGIN_PAUSE:
            raise HTTPException(429, f"too many failed logins for {name!r}; wait a minute")
        user = await self.reader(lambda r: auth.authenticate(r, name, password))
        if user is None:
            self.failures[name] = [*recent, now]
            raise HTTPException(401, "wrong user name or password")
        self.failures.pop(name, None)
        length = self.gateway.site.console.session_seconds
        token = await self.gateway.store.call(
            lambda r: auth.create_session(r, user.name, now, length))
        self.cache[token] = _Session(user, now + length, now, now)
        return user, token, now + length

    async def user(self, token: str) -> auth.User | None:
        now = self.gateway.clock()
        idle = self.gateway.site.console.idle_seconds
        session = self.cache.get(token)
        if session is not None and now - session.checked_at > RECHECK:
            # a user disabled, or given a new password, from the CLI since
            current = await self.reader(lambda r: auth.session_user(r, token, now))
            if current is None:
                self.cache.pop(token, None)
                return None
            session.user = current
            session.checked_at = now
        if session is None:
            user = await self.reader(lambda r: auth.session_user(r, token, now))
            if user is None:
                return None
            expires = await self.reader(lambda r: auth.session_expires(r, token))
            session = self.cache[token] = _Session(user, expires, now, now)
        if now >= session.expires_at or now - session.last_seen > idle:
            await self.logout(token)
            return None
        session.last_seen = now
        return session.user

    async def logout(self, token: str) -> None:
        self.cache.pop(token, None)
        await self.gateway.store.call(lambda r: auth.end_session(r, token))


def create_app(gateway: "Gateway") -> FastAPI:
    """The console for a running gateway."""
    from gateway.present import kpi as kpis
    from gateway.present import report as reports
    from gateway.present import report_render

    # site and playbooks are read from the gateway on each request: a reload replaces them
    reader = Reader(gateway.site.store_path)
    sessions = Sessions(gateway, reader)
    hub = Hub(gateway.engine.playbooks)
    gateway.pipeline.listeners.append(hub.publish)
    gateway.reload_listeners.append(lambda: setattr(hub, "playbooks", gateway.engine.playbooks))

    app = FastAPI(title="Alarm gateway console API", version="1",
                  description="Incidents, points and the live stream of the alarm gateway.",
                  openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None)
    app.state.hub = hub
    app.state.reader = reader

    # ------------------------------------------------------------------ errors and headers

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                     "message": e["msg"]} for e in exc.errors()]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return JSONResponse(status_code=422, content={
            "error": f"{first['field']}: {first['message']}", "problems": problems})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.detail},
                            headers=exc.headers)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        has_body = request.headers.get("content-length", "0") != "0" \
            or "transfer-encoding" in request.headers
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and has_body \
                and request.url.path.startswith("/api/"):
            # a form on another site cannot send JSON without the browser asking first
            kind = request.headers.get("content-type", "").split(";")[0].strip()
            if kind != "application/json":
                return JSONResponse(status_code=415, content={
                    "error": "send the body as application/json"})
        response: Response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        path = request.url.path
        if path.endswith("/report") or path == "/api/kpi":
            # the printable reports: one page with its own style block and no script at all
            response.headers["Content-Security-Policy"] = REPORT_CSP
        elif not path.startswith("/api/docs"):
            response.headers["Content-Security-Policy"] = CSP
        return response

    # ------------------------------------------------------------------ auth

    async def current_user(request: Request) -> auth.User:
        token = _token(request)
        user = await sessions.user(token) if token else None
        if user is None:
            raise HTTPException(401, "log in first (the session is missing or has expired)")
        return user

    User = Annotated[auth.User, Depends(current_user)]

    def need(user: auth.User, permission: str) -> None:
        if not user.may(permission):
            raise HTTPException(403, f"{user.name} ({', '.join(user.roles)}) may not do this: "
                                f"it needs {' or '.join(sorted(auth.PERMISSIONS[permission]))}")

    @app.post("/api/login", tags=["session"])
    async def login(body: LoginBody, response: Response) -> dict[str, Any]:
        user, token, expires = await sessions.login(body.username, body.password)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                            secure=gateway.site.console.cert_file is not None,
                            max_age=int(gateway.site.console.session_seconds), path="/")
        return {"user": _user(user), "token": token, "expires_at": expires}

    @app.post("/api/logout", tags=["session"])
    async def logout(request: Request, response: Response, user: User) -> dict[str, Any]:
        await sessions.logout(_token(request))
        response.delete_cookie(COOKIE, path="/")
        return {"ok": True}

    @app.get("/api/me", tags=["session"])
    async def me(user: User) -> dict[str, Any]:
        return {"user": _user(user)}

    # ------------------------------------------------------------------ site

    @app.get("/api/site", tags=["site"])
    async def site_info(user: User) -> dict[str, Any]:
        return {
            "id": gateway.site.site_id, "name": _t(gateway.site.site_name),
            "address": _t(gateway.site.address),
            "roles": {k: _t(v) for k, v in gateway.site.roles.items()},
            "buildings": sorted(gateway.site.buildings, key=_natural),
            "point_kinds": sorted({p.kind.value for p in gateway.site.points.values()}),
            "playbooks": [{"id": p.id, "name": _t(p.name), "manual": p.manual,
                           "severity": p.severity.value, "category": p.category}
                          for p in sorted(gateway.engine.playbooks.values(),
                                          key=lambda p: p.id)],
            "drill_until": gateway.drill_until,
            "drill": gateway.drill.to_json() if gateway.drill else None, "now": gateway.clock(),
        }

    # ------------------------------------------------------------------ incidents

    @app.get("/api/incidents", tags=["incidents"])
    async def incidents(
            user: User,
            status: Annotated[Literal["live", "open", "acknowledged", "resolved", "closed",
                                      "all"], Query()] = "live",
            type: Annotated[str | None, Query(max_length=60)] = None,
            building: Annotated[str | None, Query(max_length=40)] = None,
            drill: bool | None = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        if status in ("live", "open", "acknowledged", "resolved"):
            found = list(gateway.state.incidents.values())
            if status != "live":
                found = [i for i in found if i.status.value == status]
        else:
            found = await reader(lambda r: r.list_incidents(include_closed=True,
                                                             limit=limit * 5))
            if status == "closed":
                found = [i for i in found if i.status.value == "closed"]
        found = [i for i in found
                 if (type is None or i.type == type)
                 and (building is None or i.location.building == building)
                 and (drill is None or i.drill == drill)]
        found.sort(key=lambda i: (i.status.value == "closed", _rank(i), -i.opened_at))
        playbooks = gateway.engine.playbooks
        return {"incidents": [incident_summary(i, playbooks) for i in found[:limit]],
                "now": gateway.clock()}

    async def load(incident_id: str) -> Incident:
        incident = gateway.state.incidents.get(incident_id)
        if incident is None:
            incident = await reader(lambda r: r.get_incident(incident_id))
        if incident is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return incident

    @app.get("/api/incidents/{incident_id}", tags=["incidents"])
    async def incident(incident_id: str, user: User) -> dict[str, Any]:
        found = await load(incident_id)
        events = await reader(lambda r: r.incident_events(incident_id))
        playbooks = gateway.engine.playbooks
        return {"incident": {**to_json(found), **incident_summary(found, playbooks)},
                "playbook": _playbook_view(playbooks.get(found.type), found, events),
                "events": [{"kind": e.kind, "at": e.at, "actor": e.actor,
                            "point_id": e.point_id, "data": e.data} for e in events],
                "now": gateway.clock()}

    async def give(user: auth.User, verb: str, incident_id: str,
                   args: dict[str, str]) -> dict[str, Any]:
        try:
            ok, result = await gateway.command(OperatorCommand(verb, incident_id, user.name,
                                                               args))
        except TimeoutError:
            raise HTTPException(503, "the gateway did not answer in time; the command stays "
                                "queued and is applied when it does") from None
        if not ok:
            status = 404 if result.startswith("no incident") else 409
            raise HTTPException(status, result)
        return {"ok": True, "result": result}

    @app.post("/api/incidents", tags=["incidents"], status_code=201)
    async def open_incident(body: OpenBody, user: User) -> dict[str, Any]:
        if body.drill:
            if not (user.may("drill") or user.may("open")):
                need(user, "drill")
        else:
            need(user, "open")
        args = {k: str(v) for k, v in body.model_dump().items() if k != "drill"}
        args["drill"] = "yes" if body.drill else ""
        out = await give(user, "open", "", args)
        out["id"] = out["result"].split()[1] if out["result"].startswith("opened ") else ""
        return out

    def verb_route(verb: str, model: type[Body], summary: str) -> None:
        async def route(incident_id: str, body: model, user: User) -> dict[str, Any]:  # type: ignore[valid-type]
            found = await load(incident_id)
            if not user.may_work(verb, drill=found.drill):
                permission = auth.VERB_PERMISSION.get(verb, "close")
                need(user, permission)
            args = {k: str(v) for k, v in body.model_dump().items()}  # type: ignore[attr-defined]
            return await give(user, verb, incident_id, args)

        path = verb.replace("_", "-")
        app.post(f"/api/incidents/{{incident_id}}/{path}", tags=["incident commands"],
                 summary=summary, name=f"incident_{verb}")(route)

    for verb, (model, summary) in VERBS.items():
        verb_route(verb, model, summary)

    @app.get("/api/incidents/{incident_id}/report", tags=["reports"])
    async def incident_report(
            incident_id: str, user: User,
            lang: Literal["zh", "en"] = "zh",
            format: Literal["html", "md"] = "html") -> Response:
        found = await load(incident_id)
        events = await reader(lambda r: r.incident_events(incident_id))
        playbook = gateway.engine.playbooks.get(found.type)
        built = reports.build_report(found, events, playbook, gateway.site)
        if format == "md":
            return PlainTextResponse(report_render.render_markdown(built, lang),
                                     media_type="text/markdown; charset=utf-8")
        return HTMLResponse(report_render.render_html(built, lang))

    @app.get("/api/tasks", tags=["incidents"])
    async def tasks(user: User, all: bool = False) -> dict[str, Any]:
        found = await reader(lambda r: r.list_follow_ups(include_done=all))
        return {"tasks": [{"incident_id": t.incident_id, "id": t.id, "role": t.role,
                           "text": {"zh": t.text_zh, "en": t.text_en}, "due_at": t.due_at,
                           "status": t.status, "done_at": t.done_at, "done_by": t.done_by,
                           "note": t.note} for t in found], "now": gateway.clock()}

    @app.get("/api/kpi", tags=["reports"])
    async def kpi(user: User,
                  days: Annotated[float, Query(gt=0, le=3660)] = 30,
                  since: float | None = None, until: float | None = None,
                  lang: Literal["zh", "en"] = "zh",
                  format: Literal["json", "html", "md"] = "json") -> Response:
        end = until if until is not None else gateway.clock()
        start = since if since is not None else end - days * 86400
        if start >= end:
            raise HTTPException(422, "since must be before until")
        figures = await reader(lambda c: kpis.compute_kpis(c, start, end))
        if format == "html":
            return HTMLResponse(kpis.render_kpis_html(figures, lang))
        if format == "md":
            return PlainTextResponse(kpis.render_kpis_markdown(figures, lang),
                                     media_type="text/markdown; charset=utf-8")
        return JSONResponse(kpis.kpis_to_json(figures))

    # ------------------------------------------------------------------ points

    @app.get("/api/points", tags=["points"])
    async def points(user: User,
                     building: Annotated[str | None, Query(max_length=40)] = None,
                     kind: Annotated[str | None, Query(max_length=40)] = None,
                     state: Annotated[str | None, Query(max_length=20)] = None,
                     seen_since: float | None = None) -> dict[str, Any]:
        out = []
        for point in gateway.site.points.values():
            loc = point.location
            if building is not None and loc.building != building:
                continue
            if kind is not None and point.kind.value != kind:
                continue
            status = gateway.points.get(point.id)
            current = status.state.value if status else "unknown"
            if state is not None and current != state:
                continue
            if seen_since is not None and (status is None or status.last_seen < seen_since):
                continue
            out.append({
                "id": point.id, "name": _t(point.name), "kind": point.kind.value,
                "location": {"label": loc.label(), "building": loc.building,
                             "floor": loc.floor, "zone": loc.zone},
                "source": point.source, "group": point.group, "state": current,
                "value": None, "since": None, "last_seen": None, "conditions": [],
                "chattering": 0, "offline_reason": "", "unreadable": 0,
                **(point_view(status) if status else {}),
                "offline": current == "offline", "heartbeat": point.heartbeat,
                "shelved": _shelf(gateway, point.id),
            })
        return {"points": out, "now": gateway.clock()}

    @app.post("/api/points/{point_id}/shelve", tags=["points"])
    async def shelve(point_id: str, body: ShelveBody, user: User) -> dict[str, Any]:
        """Take a nuisance point out of service for a while (ISA-18.2 shelving): its signals
        are kept but open no incident; when the time is up, a point still not normal is
        announced."""
        need(user, "shelve")
        if point_id not in gateway.site.points:
            raise HTTPException(404, f"no point {point_id}")
        return await give(user, "shelve", "", {"point": point_id, "reason": body.reason,
                                               "minutes": str(body.minutes)})

    @app.delete("/api/points/{point_id}/shelve", tags=["points"])
    async def unshelve(point_id: str, user: User) -> dict[str, Any]:
        need(user, "shelve")
        if point_id not in gateway.site.points:
            raise HTTPException(404, f"no point {point_id}")
        return await give(user, "unshelve", "", {"point": point_id})

    @app.get("/api/actuators", tags=["points"])
    async def actuators(user: User) -> dict[str, Any]:
        last: dict[str, dict[str, Any]] = {}
        closed = await reader(lambda r: r.recent_commands(500))
        for row in closed:
            actuator_id = row.action_id.partition(":")[2]
            last.setdefault(actuator_id, {"incident_id": row.incident_id, "status": row.status,
                                          "at": row.done_at or row.created_at,
                                          "detail": row.detail or ""})
        for inc in gateway.state.incidents.values():
            for a in inc.actions:
                seen = last.get(a.actuator_id)
                if seen is None or a.updated_at >= seen["at"]:
                    last[a.actuator_id] = {"incident_id": inc.id, "status": a.status.value,
                                           "command": a.command, "at": a.updated_at,
                                           "detail": a.detail}
        out = []
        for actuator in gateway.site.actuators.values():
            feedback = []
            for name, command in actuator.commands.items():
                if command.feedback is not None:
                    known = gateway.points.get(command.feedback.point)
                    feedback.append({"command": name, "point": command.feedback.point,
                                     "value": known.value if known else None,
                                     "state": known.state.value if known else "unknown",
                                     "last_seen": known.last_seen if known else None})
            out.append({"id": actuator.id, "name": _t(actuator.name),
                        "kind": actuator.kind.value, "location": actuator.location.label(),
                        "commands": sorted(actuator.commands), "last": last.get(actuator.id),
                        "feedback": feedback})
        return {"actuators": out}

    @app.get("/api/deadletters", tags=["points"])
    async def dead_letters(user: User,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        letters = await reader(lambda r: r.list_dead_letters(limit))
        return {"dead_letters": [{"at": d.at, "source": d.source, "topic": d.topic,
                                  "reason": d.reason, "detail": d.detail, "size": d.size,
                                  "payload": d.payload[:400].decode("utf-8", "replace")}
                                 for d in letters]}

    # ------------------------------------------------------------------ drills

    @app.post("/api/drill", tags=["drills"])
    async def drill_start(body: DrillBody, user: User) -> dict[str, Any]:
        need(user, "drill")
        return await give(user, "drill_start", "", {
            "minutes": str(body.minutes), "buildings": ",".join(body.buildings),
            "points": ",".join(body.points)})

    @app.delete("/api/drill", tags=["drills"])
    async def drill_stop(user: User) -> dict[str, Any]:
        need(user, "drill")
        return await give(user, "drill_stop", "", {})

    # ------------------------------------------------------------------ live stream, health

    @app.get("/api/stream", tags=["live"])
    async def stream(request: Request, user: User) -> StreamingResponse:
        """Server-Sent Events. A board left open counts as in use (it keeps the session from
        going idle); the stream ends when the session does (logout, expiry, user disabled)."""
        token = _token(request)
        hello = {"user": user.name, "now": gateway.clock(), "drill_until": gateway.drill_until,
                 "drill": gateway.drill.to_json() if gateway.drill else None}

        async def still_valid() -> bool:
            return await sessions.user(token) is not None

        return StreamingResponse(hub.stream(hello, still_valid),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        health = gateway.health()
        return JSONResponse(status_code=503 if health["status"] == "unhealthy" else 200,
                            content=health)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        body, content_type = render_metrics(gateway, hub)
        return Response(body, media_type=content_type)

    # ------------------------------------------------------------------ the page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return app


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE, "")


def _shelf(gateway: "Gateway", point_id: str) -> dict[str, Any] | None:
    shelf = gateway.shelved.get(point_id)
    if shelf is None:
        return None
    return {"until": shelf.until, "by": shelf.by, "reason": shelf.reason, "at": shelf.at}


def _t(text: Any) -> dict[str, str]:
    return {"zh": text.zh, "en": text.en}


def _user(user: auth.User) -> dict[str, Any]:
    return {"name": user.name, "display": user.display, "roles": list(user.roles),
            "may": sorted(p for p in auth.PERMISSIONS if user.may(p))}


def _rank(incident: Incident) -> int:
    return SEVERITY_RANK[incident.severity]


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**9, value)


def _playbook_view(playbook: Playbook | None, incident: Incident,
                   events: list[Any]) -> dict[str, Any] | None:
    """The playbook's texts for what the incident holds: the page's checklist and forms."""
    if playbook is None:
        return None
    # the latest facts of each call: a new place in alarm updates "where"
    calls = {e.data["prompt"]: e.data["call"] for e in events
             if e.kind in ("prompt_raised", "call_facts_updated") and e.data.get("call")}
    stages = {s.id: s for s in playbook.stages}
    said = statement(playbook, incident)
    steps = {}
    for state in incident.steps:
        step = playbook.step(state.stage, state.id) if state.stage in stages else None
        if step is not None:
            steps[state.id] = {"text": _t(step.text), "arrival": step.arrival,
                               "deadline": step.deadline}
    prompts = {}
    for prompt_state in incident.prompts:
        prompt = playbook.prompt(prompt_state.stage, prompt_state.id) \
            if prompt_state.stage in stages else None
        if prompt is not None:
            prompts[prompt_state.id] = {
                "text": _t(prompt.text), "on_timeout": prompt.on_timeout,
                "timeout": prompt.timeout, "second_confirmation": prompt.second_confirmation,
                "actions": [_t(a.name) for a in prompt.actions],
                "call": calls.get(prompt_state.id)}
    branches = {}
    for branch_state in incident.branches:
        branch = stages[branch_state.stage].branch if branch_state.stage in stages else None
        if branch is not None:
            branches[branch_state.id] = {"question": _t(branch.question),
                                  "options": [{"id": o.id, "label": _t(o.label),
                                               "verification": o.verification,
                                               "goto": o.goto}
                                              for o in branch.options]}
    records = []
    for record in incident_records(playbook, incident):
        entry = incident.record(record.id)
        records.append({"id": record.id, "label": _t(record.label), "type": record.type,
                        "required": record.required,
                        "value": entry.value if entry else None,
                        "by": entry.by if entry else None, "at": entry.at if entry else None})
    review = playbook.review
    return {
        "id": playbook.id, "name": _t(playbook.name), "category": playbook.category,
        "stages": [{"id": s.id, "name": _t(s.name), "entered": s.id in incident.entered}
                   for s in playbook.stages],
        "statement": _t(said) if said else None, "steps": steps, "prompts": prompts,
        "branches": branches, "records": records,
        "review": {"handling": _t(review.handling), "analysis": _t(review.analysis),
                   "improvement": _t(review.improvement)} if review else None,
        "actions": {a.id: _t(a.name) for s in playbook.stages
                    for a in (*s.actions, *(x for p in s.prompts for x in p.actions))},
    }
