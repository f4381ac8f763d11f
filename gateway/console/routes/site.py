"""The site as the page describes it, drill windows, and the KPIs of a period."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from gateway.console.bodies import body_of, command_args
from gateway.console.context import Ctx, User, need
from gateway.console.views import bi, natural
from gateway.domain import site_time
from gateway.domain.commands import COMMANDS
from gateway.present import kpi as kpis
from gateway.present import kpi_render

router = APIRouter()
DrillBody = body_of("drill_start")


@router.get("/api/site", tags=["site"])
async def site_info(user: User, ctx: Ctx) -> dict[str, Any]:
    gateway = ctx.gateway
    site = gateway.site
    return {
        "id": site.site_id, "name": bi(site.site_name), "address": bi(site.address),
        "timezone": site.timezone,
        "people": await ctx.people(),  # login → the name each user goes by
        # the names of the zones that are not numbered (pump_room → 水泵房 / pump room)
        "zones": {z: bi(n) for z, n in site.zones.of(
            [p.location.zone for p in site.points.values()]
            + [a.location.zone for a in site.actuators.values()]).items()},
        "roles": {k: bi(v) for k, v in site.roles.items()},
        "buildings": sorted(site.buildings, key=natural),
        "point_kinds": sorted({p.kind.value for p in site.points.values()}),
        "playbooks": [{"id": p.id, "name": bi(p.name), "manual": p.manual,
                       "severity": p.severity.value, "category": p.category}
                      for p in sorted(gateway.engine.playbooks.values(), key=lambda p: p.id)],
        "drill_until": gateway.drill_until,
        "drill": gateway.drill.to_json() if gateway.drill else None, "now": gateway.clock(),
    }


@router.post("/api/drill", tags=["drills"])
async def drill_start(body: DrillBody, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
    need(user, "drill")
    return await ctx.give(user, "drill_start", "", command_args(body))


@router.delete("/api/drill", tags=["drills"])
async def drill_stop(user: User, ctx: Ctx) -> dict[str, Any]:
    need(user, "drill")
    return await ctx.give(user, "drill_stop", "", {})


EPOCH_LIMIT = 4_102_444_800  # 2100-01-01: seconds since 1970, as the clock counts


@router.get("/api/kpi", tags=["reports"])
async def kpi(user: User, ctx: Ctx,
              days: Annotated[float, Query(gt=0, le=3660)] = 30,
              since: Annotated[float | None, Query(ge=0, le=EPOCH_LIMIT)] = None,
              until: Annotated[float | None, Query(ge=0, le=EPOCH_LIMIT)] = None,
              lang: Literal["zh", "en"] = "zh",
              format: Literal["json", "html", "md"] = "json") -> Response:
    end = until if until is not None else ctx.gateway.clock()
    start = since if since is not None else end - days * 86400
    if start >= end:
        raise HTTPException(422, "since must be before until")
    site = ctx.gateway.site
    figures = await ctx.reader(lambda r: kpis.compute_kpis(r, start, end, site=site))
    if format == "html":
        return HTMLResponse(kpi_render.render_kpis_html(figures, lang))
    if format == "md":
        return PlainTextResponse(kpi_render.render_kpis_markdown(figures, lang),
                                 media_type="text/markdown; charset=utf-8")
    return JSONResponse(kpis.kpis_to_json(figures))


@router.get("/api/roster", tags=["site"])
async def roster(user: User, ctx: Ctx) -> dict[str, Any]:
    """Who is on duty for each role of the roster now: the person, their phone, the deputy,
    the shift and until when (the site's clock), a swap with its reason."""
    gateway = ctx.gateway
    site, now = gateway.site, gateway.clock()

    def person(pid: str) -> dict[str, Any] | None:
        p = site.people.get(pid)
        return None if p is None else {"id": p.id, "name": bi(p.name), "phone": p.phone}

    duty = []
    for d in gateway.state.roster(site.roster).now(site_time.local(now)):
        role = site.roles.get(d.role)
        duty.append({"role": d.role, "role_name": bi(role) if role else None,
                     "person": person(d.person), "deputy": person(d.deputy) if d.deputy
                     else None, "shift": d.shift,
                     "until": d.until.timestamp() if d.until else None,
                     "swapped": d.swapped})
    people = [{"id": p.id, "name": bi(p.name)} for p in site.people.values()]
    return {"at": now, "duty": duty, "people": people,
            "may_swap": user.may(COMMANDS["roster_swap"].permission)}


SwapBody = body_of("roster_swap")


@router.post("/api/roster/swap", tags=["site"])
async def roster_swap(body: SwapBody, user: User, ctx: Ctx) -> dict[str, Any]:  # type: ignore[valid-type]
    """Someone else on duty in a role for the shift now running (a swap for tonight), with
    the reason on record: the roster answers with them until the shift ends."""
    need(user, COMMANDS["roster_swap"].permission)
    return await ctx.give(user, "roster_swap", "", command_args(body))
