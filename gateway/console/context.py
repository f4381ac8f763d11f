"""What every route of the console shares: the running gateway, the store's reader, the
sessions, the live stream's hub; who is asking (``User``) and what they may do; giving a
command and hearing its answer."""

# No "from __future__ import annotations": FastAPI reads the dependencies' signatures at run time.

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from gateway.console import auth
from gateway.console.refusal import refused
from gateway.console.sessions import Reader, Sessions, token
from gateway.console.stream import Hub
from gateway.domain.incident import Incident
from gateway.engine.actions import hand_name
from gateway.engine.state import OperatorCommand
from gateway.errors import Refusal
from gateway.present.names import command_name, names_of
from gateway.present.refusals import refusal_params

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
            raise refused(404, "no_incident", f"no incident {incident_id}", incident=incident_id)
        return incident

    async def give(self, user: auth.User, verb: str, incident_id: str,
                   args: dict[str, str]) -> dict[str, Any]:
        """A command as the user's, answered once its batch is committed."""
        try:
            answer = await self.gateway.command(OperatorCommand(verb, incident_id, user.name,
                                                                args))
        except TimeoutError:
            raise refused(503, "timeout", "the gateway did not answer in time; the command stays "
                                "queued and is applied when it does") from None
        if answer.refusal is not None:
            raise HTTPException(_STATUS[answer.refusal], {
                "error": answer.text, "code": answer.code,
                "params": await self._named(incident_id, answer.params)})
        return {"ok": True, "result": answer.text}

    async def people(self) -> dict[str, str]:
        """Who the users are: login name → the name they go by."""
        return await self.reader(lambda r: {u.name: u.display for u in r.list_users()})

    async def _named(self, incident_id: str,
                     params: Mapping[str, str | list[str]]) -> dict[str, dict[str, str]]:
        """A refusal's particulars by the names the site and the playbook give them."""
        gateway = self.gateway
        incident = gateway.state.incidents.get(incident_id) if incident_id else None
        if incident is None and incident_id:
            incident = await self.reader(lambda r: r.get_incident(incident_id))
        playbook = gateway.engine.playbooks.get(incident.type) if incident else None
        names = names_of((), playbook, gateway.site)
        for action in incident.actions if incident else ():
            if action.by:  # commanded by hand: named by its command
                names.actions.setdefault(action.action, hand_name(command_name(
                    gateway.site, action.actuator_id, action.command)))
        return refusal_params(params, names, await self.people())


_STATUS = {Refusal.NOT_FOUND: 404, Refusal.CONFLICT: 409, Refusal.FAILED: 500}


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


Ctx = Annotated[Console, Depends(console)]


async def current_user(request: Request, ctx: Ctx) -> auth.User:
    session = token(request)
    user = await ctx.sessions.user(session) if session else None
    if user is None:
        raise refused(401, "session", "log in first (the session is missing or has expired)")
    return user


User = Annotated[auth.User, Depends(current_user)]


def need(user: auth.User, permission: str) -> None:
    if not user.may(permission):
        raise refused(403, "forbidden", f"{user.name} ({', '.join(user.roles)}) may not do "
                      f"this: it needs {' or '.join(sorted(auth.PERMISSIONS[permission]))}")
