"""Logging in and out, and who is logged in."""

# No "from __future__ import annotations": FastAPI reads the route signatures at run time.

from typing import Any

from fastapi import APIRouter, Request, Response

from gateway.console.bodies import LoginBody
from gateway.console.context import Ctx, User
from gateway.console.sessions import COOKIE, token
from gateway.console.views import user_json

router = APIRouter(tags=["session"])


@router.post("/api/login")
async def login(body: LoginBody, request: Request, response: Response,
                ctx: Ctx) -> dict[str, Any]:
    address = request.client.host if request.client else ""
    user, session, expires = await ctx.sessions.login(body.username, body.password, address)
    console = ctx.gateway.site.console
    response.set_cookie(COOKIE, session, httponly=True, samesite="strict",
                        secure=console.cert_file is not None,
                        max_age=int(console.session_seconds), path="/")
    return {"user": user_json(user), "token": session, "expires_at": expires}


@router.post("/api/logout")
async def logout(request: Request, response: Response, user: User, ctx: Ctx) -> dict[str, Any]:
    await ctx.sessions.logout(token(request))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/api/me")
async def me(user: User) -> dict[str, Any]:
    return {"user": user_json(user)}
