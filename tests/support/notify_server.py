"""A real HTTP server on loopback that stands in for a site's webhook receiver, a WeCom and a
DingTalk group robot and an SMS provider. It keeps every request, checks the webhook's HMAC
and DingTalk's 加签 by its own reading of their specifications (not the product's code), and
answers on demand with an error status, a robot's errcode, an answer too slow, or a closed
connection.

Paths: ``/webhook``, ``/wecom/send?key=...``, ``/dingtalk/send?access_token=...``, ``/sms``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEBHOOK_SECRET = "whsec-翠湖苑-0123456789"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "dt-access-token-0123456789abcdef"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
REPLAY_WINDOW = 300  # seconds a webhook's timestamp may be off
DINGTALK_WINDOW = 3600 * 1000  # DingTalk takes a timestamp within an hour of its clock (ms)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    verified: bool | None = None  # the signature checked out (None: nothing to check)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Plan:
    """How the server answers a path until told otherwise."""

    status: int = 200
    body: Any = None  # JSON document (None: the endpoint's normal answer)
    raw: bytes | None = None
    delay: float = 0.0
    close: bool = False


def webhook_valid(headers: dict[str, str], body: bytes, secret: str = WEBHOOK_SECRET) -> bool:
    timestamp = headers.get("x-alarm-gateway-timestamp", "")
    given = headers.get("x-alarm-gateway-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(given, "sha256=" + mac.hexdigest())


def dingtalk_valid(query: dict[str, list[str]], secret: str = DINGTALK_SECRET) -> bool:
    timestamp = query.get("timestamp", [""])[0]
    sign = query.get("sign", [""])[0]  # parse_qs has undone the URL encoding
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > DINGTALK_WINDOW:
        return False
    to_sign = f"{timestamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest())
    return hmac.compare_digest(sign.encode(), expected)


@dataclass
class NotifyServer:
    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    plans: dict[str, Plan] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def plan(self, path: str, **how: Any) -> None:
        self.plans[path] = Plan(**how)

    def last(self, path: str) -> Request:
        return [r for r in self.requests if r.path == path][-1]

    def answer(self, request: Request) -> tuple[Plan, Any]:
        plan = self.plans.get(request.path, Plan())
        if plan.body is not None or plan.raw is not None or plan.status != 200:
            return plan, plan.body
        if request.path == "/webhook":
            request.verified = webhook_valid(request.headers, request.body)
            if not request.verified:
                return Plan(status=401), {"error": "bad signature"}
            return plan, {"received": request.headers.get("idempotency-key")}
        if request.path == "/wecom/send":
            if request.query.get("key") != [WECOM_KEY]:
                return plan, {"errcode": 93000, "errmsg": "invalid webhook url"}
            return plan, {"errcode": 0, "errmsg": "ok"}
        if request.path == "/dingtalk/send":
            request.verified = dingtalk_valid(request.query)
            if request.query.get("access_token") != [DINGTALK_TOKEN] or not request.verified:
                return plan, {"errcode": 310000, "errmsg": "sign not match"}
            return plan, {"errcode": 0, "errmsg": "ok"}
        return plan, {"code": 0, "sid": f"SMS-{len(self.requests)}"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()},
                          self.rfile.read(length))
        owner = self.server.owner
        owner.requests.append(request)
        plan, document = owner.answer(request)
        if plan.delay and owner.stopping.wait(plan.delay):
            return
        if plan.close:
            self.close_connection = True
            return
        body = plan.raw if plan.raw is not None else json.dumps(document).encode()
        self.send_response(plan.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: NotifyServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer: nothing to report


@contextmanager
def notify_server() -> Iterator[NotifyServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    owner = NotifyServer(server)
    server.owner = owner
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="notify-server",
                              daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        owner.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
