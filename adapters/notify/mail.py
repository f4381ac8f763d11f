"""Email through an SMTP submission server (aiosmtplib), STARTTLS before anything else is
said when the channel asks for it, and never a password over a session that is not
encrypted. The message's key is its ``Message-ID``, so a retry after a lost answer is the
same message to the reader's mail program."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from adapters.notify.values import ChannelError, Delivery, EmailChannel, Message

KEY_HEADER = "X-Alarm-Gateway-Key"


def email_message(channel: EmailChannel, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    domain = channel.sender.rpartition("@")[2] or "alarm-gateway.invalid"
    local = re.sub(r"[^A-Za-z0-9._-]", "_", message.key) or "message"
    mail["Message-ID"] = f"<{local}@{domain}>"
    mail[KEY_HEADER] = message.key
    link = f"\n\n{message.link}\n" if message.link else "\n"
    mail.set_content(message.text + link)
    return mail


def _target(channel: EmailChannel) -> str:
    return f"smtp://{channel.host}:{channel.port}"


async def send(channel: EmailChannel, message: Message) -> Delivery:
    target = _target(channel)
    if channel.username and not channel.starttls:
        raise ChannelError("email", target, "a password is never sent without STARTTLS",
                           retry=False)
    try:
        context = ssl.create_default_context()
        if channel.cafile:
            context.load_verify_locations(cafile=channel.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ChannelError("email", target, f"cannot use cafile: {exc.strerror or exc}",
                           retry=False) from exc
    client = aiosmtplib.SMTP(hostname=channel.host, port=channel.port,
                             start_tls=channel.starttls, timeout=channel.timeout,
                             tls_context=context if channel.starttls else None)
    try:
        async with asyncio.timeout(channel.timeout):
            answer = await _session(client, channel, email_message(channel, message))
    except (TimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
        raise ChannelError("email", target, f"no answer within {channel.timeout:g} s") from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise ChannelError("email", target, _said(exc.code, exc.message), status=exc.code,
                           retry=exc.code < 500) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refusals = "; ".join(f"{r.recipient}: {_said(r.code, r.message)}"
                             for r in exc.recipients)
        raise ChannelError("email", target, f"recipients refused: {refusals}",
                           retry=False) from exc
    except aiosmtplib.SMTPConnectError as exc:
        raise ChannelError("email", target, f"cannot connect: {exc}") from exc
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise ChannelError("email", target, f"the server closed the connection: {exc}"
                           ) from exc
    except ssl.SSLError as exc:
        raise ChannelError("email", target, f"TLS: {exc.reason or exc}") from exc
    except aiosmtplib.SMTPException as exc:  # STARTTLS or AUTH not offered, and the like
        raise ChannelError("email", target, str(exc), retry=False) from exc
    except OSError as exc:
        raise ChannelError("email", target, f"cannot connect: {exc.strerror or exc}") from exc
    finally:
        _drop(client)
    return Delivery("email", target, answer, 250)


async def _session(client: aiosmtplib.SMTP, channel: EmailChannel, mail: EmailMessage) -> str:
    await client.connect()  # and STARTTLS
    try:
        if channel.username:
            await client.login(channel.username, channel.password or "")
        _, answer = await client.send_message(mail)
    except aiosmtplib.SMTPResponseException:
        # QUIT, so that the server closes its side: over TLS, a session merely dropped
        # lingers until the TLS shutdown gives up
        await _quit(client)
        raise
    await _quit(client)
    return answer


async def _quit(client: aiosmtplib.SMTP) -> None:
    # the answer is had: a server that hangs up before its 221 is no failure of the message
    with contextlib.suppress(aiosmtplib.SMTPException):
        await client.quit()


def _drop(client: aiosmtplib.SMTP) -> None:
    """A session given up on (no answer in time) is aborted: closed, over TLS it would wait
    for the server's close_notify, which a server stuck in the middle never sends."""
    transport = client.transport
    if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
        transport.abort()
    client.close()


def _said(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}"
