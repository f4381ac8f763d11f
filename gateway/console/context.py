"""What every route of the console shares: the running gateway, the store's reader, the
sessions, the live stream's hub; who is asking (``User``) and what they may do; giving a
command and hearing its answer."""

# No "from __future__ import annotations": FastAPI reads the dependencies' signatures at run time.

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from gateway.console import auth
from gateway.console.sessions import Reader, Sessions, token
from gateway.console.stream import Hub
from gateway.domain.incident import Incident
from gateway.engine.state import OperatorCommand
from gateway.errors import Refusal

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway


@dataclass(slots=True)
class Console:
    gateway: "Gateway"
    reader: Reader
    sessions: Sessions
    hub: Hub

    async def load(self, incident_id: str) -> Incident:
        """An incident, live or from the store; 404 when there is none."""
        incident = self.gateway.state.incidents.get(incident_id)
        if incident is None:
            incident = await self.reader(lambda r: r.get_incident(incident_id))
        if incident is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return incident

    async def give(self, user: auth.User, verb: str, incident_id: str,
                   args: dict[str, str]) -> dict[str, Any]:
        """A command as the user's, answered once its batch is committed."""
        try:
            answer = await self.gateway.command(OperatorCommand(verb, incident_id, user.name,
                                                                args))
        except TimeoutError:
            raise HTTPException(503, "the gateway did not answer in time; the command stays "
                                "queued and is applied when it does") from None
        if answer.refusal is not None:
            raise HTTPException(_STATUS[answer.refusal], answer.text)
        return {"ok": True, "result": answer.text}


_STATUS = {Refusal.NOT_FOUND: 404, Refusal.CONFLICT: 409, Refusal.FAILED: 500}


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


Ctx = Annotated[Console, Depends(console)]


async def current_user(request: Request, ctx: Ctx) -> auth.User:
    session = token(request)
    user = await ctx.sessions.user(session) if session else None
    if user is None:
        raise HTTPException(401, "log in first (the session is missing or has expired)")
    return user


User = Annotated[auth.User, Depends(current_user)]


def need(user: auth.User, permission: str) -> None:
    if not user.may(permission):
        raise HTTPException(403, f"{user.name} ({', '.join(user.roles)}) may not do this: "
                            f"it needs {' or '.join(sorted(auth.PERMISSIONS[permission]))}")
