"""Commissioning, for technicians: what a reading would do before going live (``explain``),
and the walk test's record to print and sign."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import Field, StringConstraints

from gateway.console.bodies import Body
from gateway.console.context import Ctx, User, need
from gateway.console.refusal import refused
from gateway.console.routes.site import EPOCH_LIMIT
from gateway.present import explain, walk_record

router = APIRouter()


class ExplainBody(Body):
    """An MQTT message (``topic`` and ``payload``), or Modbus registers (``modbus``:
    CONNECTION/UNIT, ``table``, ``address`` of the first of ``values``)."""

    topic: Annotated[str, StringConstraints(max_length=1024)] | None = None
    payload: Annotated[str, StringConstraints(max_length=60000)] | None = None
    modbus: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/\d{1,3}$")] | None = None
    table: Literal["holding", "input", "coil", "discrete_input"] = "holding"
    address: Annotated[int, Field(ge=0, le=65535)] | None = None
    values: Annotated[list[Annotated[int, Field(ge=0, le=65535)]],
                      Field(max_length=2000)] | None = None


@router.post("/api/explain", tags=["commissioning"])
async def explain_reading(body: ExplainBody, user: User, ctx: Ctx) -> dict[str, Any]:
    """What the reading would do: which point, how it is read, which condition or mapping
    gives the state, which playbook and first steps that state opens. Nothing is stored or
    sent."""
    need(user, "walk_test")
    site, playbooks = ctx.gateway.site, ctx.gateway.engine.playbooks
    if body.topic is not None and body.payload is not None:
        found = explain.explain_mqtt(site, playbooks, body.topic, body.payload.encode())
    elif body.modbus is not None and body.address is not None and body.values:
        connection, _, unit = body.modbus.partition("/")
        found = explain.explain_modbus(site, playbooks, connection, int(unit), body.table,
                                       body.address, body.values)
    else:
        raise refused(422, "explain_what", "give topic and payload, or modbus, address and "
                      "values")
    return {"points": explain.to_json(found, playbooks)}


@router.get("/api/walk-record", tags=["commissioning"])
async def walk(user: User, ctx: Ctx,
               since: Annotated[float, Query(ge=0, le=EPOCH_LIMIT)],
               until: Annotated[float | None, Query(ge=0, le=EPOCH_LIMIT)] = None,
               building: Annotated[str | None, Query(max_length=40)] = None,
               lang: Literal["zh", "en"] = "zh",
               format: Literal["html", "md"] = "html") -> Response:
    """The walk test's record: each point of the scope, whether and when it reported
    between ``since`` and ``until`` (default: now), to print and sign."""
    need(user, "walk_test")
    end = until if until is not None else ctx.gateway.clock()
    if since >= end:
        raise refused(422, "walk_period", "the walk's start must come before its end")
    heard = await ctx.reader(lambda r: r.heard_between(since, end))
    page = walk_record.walk_record(ctx.gateway.site, heard, since, end, lang,
                                   building=building, by=user.display or user.name, fmt=format)
    if format == "md":
        return PlainTextResponse(page, media_type="text/markdown; charset=utf-8")
    return HTMLResponse(page)
