"""The notification channels against real servers on loopback: an HTTP server standing in for
a site's webhook, the WeCom and DingTalk robots and an SMS provider (it checks signatures by
its own reading of them), and aiosmtpd with STARTTLS and AUTH. Each success has its faults
beside it: an error status, a robot's errcode, an answer too slow, a closed connection,
nobody listening."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.interface import SendError
from adapters.notify import (
    ChannelError,
    DingTalkChannel,
    EmailChannel,
    Message,
    SmsChannel,
    SmsSuccess,
    WebhookChannel,
    WeComChannel,
    send,
)
from adapters.notify.exchange import ANSWER_LIMIT
from tests.support.notify_server import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    WEBHOOK_SECRET,
    WECOM_KEY,
    NotifyServer,
    notify_server,
)
from tests.support.processes import free_port
from tests.support.smtp_server import PASSWORD, USER, SmtpServer, smtp_server

pytestmark = pytest.mark.anyio

MESSAGE = Message(key="INC-000001/notified/3/duty_supervisor/zhang",
                  title="火警（已确认）1 号楼 12 层 3 区",
                  text=("**火警已确认** 请立即到场。\n> 电梯 B1-L1/L2 已迫降首层\n"
                        "\"引号\" 与 {括号}"),
                  link="https://console.cuihuyuan.example/incidents/INC-000001")


@pytest.fixture
def http() -> Iterator[NotifyServer]:
    with notify_server() as server:
        yield server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def webhook(http: NotifyServer, secret: str = WEBHOOK_SECRET, timeout: float = 5) -> WebhookChannel:
    return WebhookChannel(f"{http.base}/webhook", secret, timeout)


def wecom(http: NotifyServer, key: str = WECOM_KEY) -> WeComChannel:
    return WeComChannel(f"{http.base}/wecom/send?key={key}", timeout=5)


def dingtalk(http: NotifyServer, secret: str = DINGTALK_SECRET) -> DingTalkChannel:
    return DingTalkChannel(f"{http.base}/dingtalk/send?access_token={DINGTALK_TOKEN}", secret, 5)


SMS_JSON = '{"mobile": "{phone}", "sign": "{code}", "content": "{text}", "ref": "{key}"}'


def sms(http: NotifyServer, **over: object) -> SmsChannel:
    settings: dict[str, object] = {
        "url": f"{http.base}/sms", "phone": "13800001111", "body_template": SMS_JSON,
        "code": "翠湖苑物业", "headers": {"Authorization": "Bearer sms-token"},
        "success": SmsSuccess(field="code", equals=0, id_field="sid"), "timeout": 5}
    settings.update(over)
    return SmsChannel(**settings)  # type: ignore[arg-type]


async def refusal(channel: object, message: Message = MESSAGE) -> ChannelError:
    with pytest.raises(SendError) as caught:
        await send(channel, message)  # type: ignore[arg-type]
    assert isinstance(caught.value, ChannelError)
    return caught.value


# webhook


async def test_a_webhook_gets_signed_json_with_the_idempotency_key(http: NotifyServer) -> None:
    delivery = await send(webhook(http), MESSAGE)

    request = http.last("/webhook")
    assert request.verified is True
    assert request.headers["idempotency-key"] == MESSAGE.key
    assert abs(int(request.headers["x-alarm-gateway-timestamp"]) - time.time()) < 5
    assert request.headers["x-alarm-gateway-signature"].startswith("sha256=")
    document = request.json()
    assert {k: document[k] for k in ("key", "title", "text", "link")} == {
        "key": MESSAGE.key, "title": MESSAGE.title, "text": MESSAGE.text, "link": MESSAGE.link}
    assert document["sent_at"].endswith("+00:00")
    assert (delivery.channel, delivery.status) == ("webhook", 200)
    assert MESSAGE.key in delivery.answer


async def test_every_try_of_a_message_carries_the_same_idempotency_key(
        http: NotifyServer) -> None:
    await send(webhook(http), MESSAGE)
    await send(webhook(http), MESSAGE)

    keys = {r.headers["idempotency-key"] for r in http.requests}
    assert keys == {MESSAGE.key}
    assert all(r.verified for r in http.requests)


async def test_a_webhook_signed_with_another_secret_is_refused_for_good(
        http: NotifyServer) -> None:
    error = await refusal(webhook(http, secret="not-the-secret"))

    assert http.last("/webhook").verified is False
    assert (error.status, error.retry) == (401, False)
    assert "HTTP 401" in str(error)


async def test_a_server_error_is_worth_another_try(http: NotifyServer) -> None:
    http.plan("/webhook", status=500, raw=b"upstream database is down")

    error = await refusal(webhook(http))

    assert (error.status, error.retry) == (500, True)
    assert "HTTP 500: upstream database is down" in str(error)


async def test_an_answer_slower_than_the_timeout_is_no_delivery(http: NotifyServer) -> None:
    http.plan("/webhook", delay=3)
    started = time.monotonic()

    error = await refusal(webhook(http, timeout=0.3))

    assert time.monotonic() - started < 2
    assert "no answer within 0.3 s" in str(error)
    assert error.retry


async def test_a_connection_closed_without_an_answer_is_no_delivery(http: NotifyServer) -> None:
    http.plan("/webhook", close=True)

    error = await refusal(webhook(http))

    assert "closed before an answer" in error.reason
    assert error.retry


async def test_nobody_listening_is_no_delivery() -> None:
    channel = WebhookChannel(f"http://127.0.0.1:{free_port()}/webhook", WEBHOOK_SECRET, 2)

    error = await refusal(channel)

    assert "cannot connect" in error.reason
    assert error.retry


async def test_a_huge_answer_is_read_only_up_to_the_limit(http: NotifyServer) -> None:
    http.plan("/webhook", raw=b"x" * (ANSWER_LIMIT * 8))

    delivery = await send(webhook(http), MESSAGE)

    assert delivery.status == 200
    assert len(delivery.answer) < 300


# WeCom group robot


async def test_a_wecom_robot_gets_markdown(http: NotifyServer) -> None:
    delivery = await send(wecom(http), MESSAGE)

    request = http.last("/wecom/send")
    document = request.json()
    assert document["msgtype"] == "markdown"
    content = document["markdown"]["content"]
    assert MESSAGE.title in content
    assert MESSAGE.text in content
    assert f"({MESSAGE.link})" in content
    assert (delivery.status, delivery.answer) == (200, "ok")


async def test_a_wecom_errcode_is_a_refusal_that_names_it_and_not_the_key(
        http: NotifyServer) -> None:
    error = await refusal(wecom(http, key="revoked-key-123"))

    assert "errcode 93000: invalid webhook url" in str(error)
    assert "revoked-key-123" not in str(error)
    assert WECOM_KEY not in str(error)


async def test_a_long_wecom_message_is_cut_to_the_robots_limit(http: NotifyServer) -> None:
    long = Message("k-long", "长消息", "报警" * 3000, MESSAGE.link)

    await send(wecom(http), long)

    content = http.last("/wecom/send").json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith(f"({MESSAGE.link})")


# DingTalk robot


async def test_a_dingtalk_robot_gets_signed_markdown(http: NotifyServer) -> None:
    delivery = await send(dingtalk(http), MESSAGE)

    request = http.last("/dingtalk/send")
    assert request.verified is True
    assert request.query["access_token"] == [DINGTALK_TOKEN]
    assert abs(int(request.query["timestamp"][0]) - time.time() * 1000) < 5000
    document = request.json()
    assert document["msgtype"] == "markdown"
    assert document["markdown"]["title"] == MESSAGE.title
    assert MESSAGE.text in document["markdown"]["text"]
    assert delivery.answer == "ok"


async def test_a_dingtalk_sign_with_another_secret_is_refused(http: NotifyServer) -> None:
    error = await refusal(dingtalk(http, secret="SECnot-the-secret"))

    assert http.last("/dingtalk/send").verified is False
    assert "errcode 310000: sign not match" in str(error)
    assert DINGTALK_TOKEN not in str(error)


async def test_a_robot_answer_that_is_not_json_is_a_refusal(http: NotifyServer) -> None:
    http.plan("/dingtalk/send", raw=b"<html>gateway</html>")

    error = await refusal(dingtalk(http))

    assert "not a robot's answer" in error.reason


# SMS provider


async def test_an_sms_provider_gets_its_templated_json(http: NotifyServer) -> None:
    delivery = await send(sms(http), MESSAGE)

    request = http.last("/sms")
    assert request.headers["authorization"] == "Bearer sms-token"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json() == {"mobile": "13800001111", "sign": "翠湖苑物业",
                              "content": MESSAGE.text, "ref": MESSAGE.key}
    assert delivery.answer == f"SMS-{len(http.requests)}"


async def test_an_sms_provider_by_get_gets_the_fields_in_the_query(http: NotifyServer) -> None:
    channel = sms(http, method="GET", url=f"{http.base}/sms?to={{phone}}&msg={{text}}",
                  success=SmsSuccess())

    await send(channel, MESSAGE)

    request = http.last("/sms")
    assert request.method == "GET"
    assert request.query == {"to": ["13800001111"], "msg": [MESSAGE.text]}


async def test_an_sms_answer_without_the_success_value_is_a_refusal(http: NotifyServer) -> None:
    http.plan("/sms", body={"code": 1024, "msg": "余额不足"})

    error = await refusal(sms(http))

    assert "code is 1024, not 0" in error.reason
    assert "余额不足" in error.reason


async def test_an_sms_template_naming_an_unknown_field_sends_nothing(http: NotifyServer) -> None:
    error = await refusal(sms(http, body_template='{"to": "{mobile}"}'))

    assert "{mobile}" in error.reason
    assert not error.retry
    assert http.requests == []


async def test_an_sms_provider_that_is_down_is_worth_another_try(http: NotifyServer) -> None:
    http.plan("/sms", status=503, body={"msg": "busy"})

    error = await refusal(sms(http))

    assert (error.status, error.retry) == (503, True)


# email


def email(smtp: SmtpServer, **over: object) -> EmailChannel:
    settings: dict[str, object] = {
        "host": smtp.host, "port": smtp.port, "sender": USER,
        "to": ("zhang.zhuguan@cuihuyuan.example", "duty@cuihuyuan.example"),
        "username": USER, "password": PASSWORD, "cafile": str(smtp.cafile), "timeout": 5}
    settings.update(over)
    return EmailChannel(**settings)  # type: ignore[arg-type]


async def test_an_email_goes_over_starttls_with_a_login(smtp: SmtpServer) -> None:
    delivery = await send(email(smtp), MESSAGE)

    [received] = smtp.inbox.received
    assert received.tls
    assert smtp.inbox.logins == [(USER.encode(), True)]
    assert received.sender == USER
    assert received.recipients == ["zhang.zhuguan@cuihuyuan.example", "duty@cuihuyuan.example"]
    assert received.message["Subject"] == MESSAGE.title
    assert received.message["X-Alarm-Gateway-Key"] == MESSAGE.key
    body = received.message.get_content().replace("\r\n", "\n")
    assert MESSAGE.text in body
    assert MESSAGE.link in body  # type: ignore[operator]
    assert "queued as 4F2A9" in delivery.answer


async def test_a_wrong_smtp_password_is_refused_for_good(smtp: SmtpServer) -> None:
    error = await refusal(email(smtp, password="wrong"))

    assert error.status == 535
    assert not error.retry
    assert "wrong" not in str(error)


async def test_a_message_the_mail_server_defers_is_worth_another_try(smtp: SmtpServer) -> None:
    smtp.inbox.data_answer = "451 4.3.0 Try again later"

    error = await refusal(email(smtp))

    assert (error.status, error.retry) == (451, True)
    assert "451 4.3.0 Try again later" in str(error)


async def test_a_mail_server_slower_than_the_timeout_is_no_delivery(smtp: SmtpServer) -> None:
    smtp.inbox.delay = 3

    error = await refusal(email(smtp, timeout=0.5))

    assert "no answer within 0.5 s" in error.reason


async def test_a_mail_server_certificate_not_trusted_is_no_delivery(smtp: SmtpServer) -> None:
    error = await refusal(email(smtp, cafile=None))

    assert "CERTIFICATE_VERIFY_FAILED" in error.reason
    assert smtp.inbox.logins == []


async def test_a_password_is_never_sent_without_starttls(smtp: SmtpServer) -> None:
    error = await refusal(email(smtp, starttls=False))

    assert "without STARTTLS" in error.reason
    assert smtp.inbox.logins == []


async def test_nobody_listening_for_mail_is_no_delivery() -> None:
    channel = EmailChannel("127.0.0.1", "a@b.example", ("c@d.example",), port=free_port(),
                           starttls=True, timeout=2)

    error = await refusal(channel)

    assert "cannot connect" in error.reason
