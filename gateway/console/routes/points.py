"""Points and their state, shelving, actuators and their last commands (and commanding one by
hand), dead letters."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.console.bodies import body_of, command_args
from gateway.console.context import Ctx, User, need
from gateway.console.refusal import refused
from gateway.console.stream import point_view
from gateway.console.views import bi, shelf_json
from gateway.engine.state import place
from gateway.present.action_words import action_detail
from gateway.present.names import names_of

router = APIRouter(tags=["points"])
ShelveBody = body_of("shelve", in_path=("point",))
ActuateBody = body_of("actuate", in_path=("actuator",))


@router.get("/api/points")
async def points(user: User, ctx: Ctx,
                 building: Annotated[str | None, Query(max_length=40)] = None,
                 kind: Annotated[str | None, Query(max_length=40)] = None,
                 state: Annotated[str | None, Query(max_length=20)] = None,
                 seen_since: float | None = None) -> dict[str, Any]:
    gateway = ctx.gateway
    out = []
    for point in gateway.site.points.values():
        loc = point.location
        status = gateway.points.get(point.id)
        current = status.state.value if status else "unknown"
        if (building is not None and loc.building != building) \
                or (kind is not None and point.kind.value != kind) \
                or (state is not None and current != state) \
                or (seen_since is not None and (status is None
                                                or status.last_seen < seen_since)):
            continue
        out.append({
            "id": point.id, "name": bi(point.name), "kind": point.kind.value,
            "location": {"label": loc.label(), "building": loc.building,
                         "floor": loc.floor, "zone": loc.zone},
            "source": point.source, "group": point.group, "state": current,
            "value": None, "since": None, "last_seen": None, "conditions": [],
            "chattering": 0, "offline_reason": "", "unreadable": 0,
            **(point_view(status) if status else {}),
            "offline": current == "offline", "heartbeat": point.heartbeat,
            "shelved": shelf_json(gateway, point.id),
        })
    return {"points": out, "now": gateway.clock()}


@router.post("/api/points/{point_id}/shelve")
async def shelve(point_id: str, body: ShelveBody, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
    """Take a nuisance point out of service for a while (ISA-18.2 shelving): its signals
    are kept but open no incident; when the time is up, a point still not normal is
    announced."""
    need(user, "shelve")
    if point_id not in ctx.gateway.site.points:
        raise refused(404, "no_point", f"no point {point_id}", value=point_id)
    return await ctx.give(user, "shelve", "", {"point": point_id, **command_args(body)})


@router.delete("/api/points/{point_id}/shelve")
async def unshelve(point_id: str, user: User, ctx: Ctx) -> dict[str, Any]:
    need(user, "shelve")
    if point_id not in ctx.gateway.site.points:
        raise refused(404, "no_point", f"no point {point_id}", value=point_id)
    return await ctx.give(user, "unshelve", "", {"point": point_id})


@router.get("/api/actuators")
async def actuators(user: User, ctx: Ctx) -> dict[str, Any]:
    gateway = ctx.gateway
    last: dict[str, dict[str, Any]] = {}
    for row in await ctx.reader(lambda r: r.recent_commands(500)):
        actuator_id = row.action_id.partition(":")[2]
        last.setdefault(actuator_id, {"incident_id": row.incident_id, "status": row.status,
                                      "at": row.done_at or row.created_at,
                                      "detail": row.detail or "", "command": ""})
    held = [(inc.id, a) for inc in gateway.state.incidents.values() for a in inc.actions]
    held += [("", a) for a in gateway.state.site_actions.values()]  # by hand, for no incident
    for incident_id, a in held:
        seen = last.get(a.actuator_id)
        if seen is None or a.updated_at >= seen["at"]:
            last[a.actuator_id] = {"incident_id": incident_id, "status": a.status.value,
                                   "command": a.command, "at": a.updated_at,
                                   "detail": a.detail, "by": a.by, "reason": a.reason}
    names = names_of((), None, gateway.site)
    for seen in last.values():
        said = action_detail(seen["detail"], names)
        seen["detail_text"] = {"zh": said.zh, "en": said.en}
    out = []
    for actuator in gateway.site.actuators.values():
        feedback = []
        for name, command in actuator.commands.items():
            if command.feedback is not None:
                known = gateway.points.get(command.feedback.point)
                point = gateway.site.points.get(command.feedback.point)
                feedback.append({"command": name, "point": command.feedback.point,
                                 "name": bi(point.name) if point else None,
                                 "value": known.value if known else None,
                                 "state": known.state.value if known else "unknown",
                                 "last_seen": known.last_seen if known else None})
        out.append({"id": actuator.id, "name": bi(actuator.name),
                    "kind": actuator.kind.value, "location": place(actuator.location),
                    "place": bi(gateway.site.zones.place(actuator.location)),
                    "commands": {c: bi(cmd.name) for c, cmd in actuator.commands.items()},
                    "last": last.get(actuator.id),
                    "feedback": feedback})
    return {"actuators": out}


@router.post("/api/actuators/{actuator_id}/actuate")
async def actuate(actuator_id: str, body: ActuateBody, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
    """Command an actuator by hand (recall an elevator, reset the recall, close a valve), with
    the reason on record: sent, then done when its feedback point confirms it or failed at
    the feedback's timeout. With ``incident``, one of that incident's actions. A tester's is a
    drill's: given in the drill window (or on a drill incident), its write withheld."""
    args = {"actuator": actuator_id, **command_args(body)}
    incident_id = args["incident"]
    if not user.may("actuate"):  # who may, before what exists is said
        on_drill = (await ctx.load(incident_id)).drill if incident_id else True
        if not user.may_actuate(drill=on_drill):
            need(user, "actuate")
        if not incident_id:
            args["drill"] = "yes"  # a tester's command is a drill's
    if actuator_id not in ctx.gateway.site.actuators:
        raise refused(404, "no_actuator", f"no actuator {actuator_id[:80]}",
                      value=actuator_id[:80])
    return await ctx.give(user, "actuate", incident_id, args)


@router.get("/api/deadletters")
async def dead_letters(user: User, ctx: Ctx,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    letters = await ctx.reader(lambda r: r.list_dead_letters(limit))
    return {"dead_letters": [{"at": d.at, "source": d.source, "topic": d.topic,
                              "reason": d.reason, "detail": d.detail, "size": d.size,
                              "payload": d.payload[:400].decode("utf-8", "replace")}
                             for d in letters]}
