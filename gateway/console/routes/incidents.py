"""Incidents: the board's list, one incident with its timeline, opening one by hand, every
command of an incident (one route each, from its definition), the report, follow-up tasks."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time,
# and the routes made in a loop name their body model through a local variable.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from gateway.console.bodies import Body, body_of, command_args
from gateway.console.context import Ctx, User, need
from gateway.console.stream import incident_summary
from gateway.console.views import bi, playbook_view, rank
from gateway.domain.commands import COMMANDS, INCIDENT_VERBS
from gateway.domain.incident import to_json
from gateway.present import report as reports
from gateway.present import report_render
from gateway.present.action_words import action_detail
from gateway.present.names import names_of
from gateway.present.timeline import event_json

router = APIRouter()
OpenBody = body_of("open")


@router.get("/api/incidents", tags=["incidents"])
async def incidents(
        user: User, ctx: Ctx,
        status: Annotated[Literal["live", "open", "acknowledged", "resolved", "closed",
                                  "all"], Query()] = "live",
        type: Annotated[str | None, Query(max_length=60)] = None,
        building: Annotated[str | None, Query(max_length=40)] = None,
        drill: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    gateway = ctx.gateway
    if status in ("live", "open", "acknowledged", "resolved"):
        found = list(gateway.state.incidents.values())
        if status != "live":
            found = [i for i in found if i.status.value == status]
    else:
        found = await ctx.reader(lambda r: r.list_incidents(include_closed=True,
                                                             limit=limit * 5))
        if status == "closed":
            found = [i for i in found if i.status.value == "closed"]
    found = [i for i in found
             if (type is None or i.type == type)
             and (building is None or i.location.building == building)
             and (drill is None or i.drill == drill)]
    found.sort(key=lambda i: (i.status.value == "closed", rank(i), -i.opened_at))
    playbooks = gateway.engine.playbooks
    return {"incidents": [incident_summary(i, playbooks) for i in found[:limit]],
            "now": gateway.clock()}


@router.get("/api/incidents/{incident_id}", tags=["incidents"])
async def incident(incident_id: str, user: User, ctx: Ctx) -> dict[str, Any]:
    found = await ctx.load(incident_id)
    events = await ctx.reader(lambda r: r.incident_events(incident_id))
    playbooks = ctx.gateway.engine.playbooks
    playbook = playbooks.get(found.type)
    names = names_of(events, playbook, ctx.gateway.site)
    shown = to_json(found)
    for action in shown.get("actions", ()):  # what became of it, in words
        said = action_detail(action.get("detail") or "", names)
        action["detail_text"] = {"zh": said.zh, "en": said.en}
    points = ctx.gateway.site.points
    device_names = {dev.point_id: bi(points[dev.point_id].name) for dev in found.devices
                    if dev.point_id in points}
    view = playbook_view(playbook, found, events)
    if view is not None:  # its actions commanded by hand, named as their events name them
        view["actions"].update({a.action: bi(names.actions[a.action]) for a in found.actions
                                if a.by and a.action in names.actions})
    return {"incident": {**shown, **incident_summary(found, playbooks)},
            "device_names": device_names,
            "playbook": view,
            "events": [event_json(e, names) for e in events],
            "now": ctx.gateway.clock()}


@router.post("/api/incidents", tags=["incidents"], status_code=201)
async def open_incident(body: OpenBody, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
    args = command_args(body)
    if args["drill"]:
        if not (user.may("drill") or user.may("open")):
            need(user, "drill")
    else:
        need(user, "open")
    out = await ctx.give(user, "open", "", args)
    out["id"] = out["result"].split()[1] if out["result"].startswith("opened ") else ""
    return out


def _command_route(verb: str) -> None:
    model: type[Body] = body_of(verb)

    async def route(incident_id: str, body: model, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
        found = await ctx.load(incident_id)
        if not user.may_work(verb, drill=found.drill):
            need(user, COMMANDS[verb].permission)
        return await ctx.give(user, verb, incident_id, command_args(body))

    path = verb.replace("_", "-")
    router.post(f"/api/incidents/{{incident_id}}/{path}", tags=["incident commands"],
                summary=COMMANDS[verb].summary, name=f"incident_{verb}")(route)


for _verb in INCIDENT_VERBS:
    _command_route(_verb)


@router.get("/api/incidents/{incident_id}/report", tags=["reports"])
async def incident_report(incident_id: str, user: User, ctx: Ctx,
                          lang: Literal["zh", "en"] = "zh",
                          format: Literal["html", "md"] = "html") -> Response:
    found = await ctx.load(incident_id)
    events = await ctx.reader(lambda r: r.incident_events(incident_id))
    playbook = ctx.gateway.engine.playbooks.get(found.type)
    built = reports.build_report(found, events, playbook, ctx.gateway.site,
                                 people=await ctx.people())
    if format == "md":
        return PlainTextResponse(report_render.render_markdown(built, lang),
                                 media_type="text/markdown; charset=utf-8")
    return HTMLResponse(report_render.render_html(built, lang))


@router.get("/api/tasks", tags=["incidents"])
async def tasks(user: User, ctx: Ctx, all: bool = False) -> dict[str, Any]:
    found = await ctx.reader(lambda r: r.list_follow_ups(include_done=all))
    return {"tasks": [{"incident_id": t.incident_id, "id": t.id, "role": t.role,
                       "text": {"zh": t.text_zh, "en": t.text_en}, "due_at": t.due_at,
                       "status": t.status, "done_at": t.done_at, "done_by": t.done_by,
                       "note": t.note} for t in found], "now": ctx.gateway.clock()}
