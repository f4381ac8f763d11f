"""One message to one channel, whatever its kind."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.notify import mail, robots, sms, webhook
from adapters.notify.values import (
    Channel,
    Delivery,
    DingTalkChannel,
    EmailChannel,
    Message,
    SmsChannel,
    WebhookChannel,
    WeComChannel,
)


async def send(channel: Channel, message: Message, *,
               clock: Callable[[], float] = time.time) -> Delivery:
    """Deliver ``message`` through ``channel``: what the far end answered, or
    ``ChannelError`` (a ``SendError``) with the reason. ``clock`` gives the time that
    signatures carry."""
    match channel:
        case WebhookChannel():
            return await webhook.send(channel, message, clock)
        case WeComChannel():
            return await robots.send_wecom(channel, message)
        case DingTalkChannel():
            return await robots.send_dingtalk(channel, message, clock)
        case EmailChannel():
            return await mail.send(channel, message)
        case SmsChannel():
            return await sms.send(channel, message)
