"""Notification channels: a message to the people on duty through a site's webhook, a WeCom
or DingTalk group robot, email, or an SMS provider. Each ``send`` is one try; retries, their
backoff and the record of each delivery are the outbox's."""

from adapters.notify.dispatch import send
from adapters.notify.values import (
    Channel,
    ChannelError,
    Delivery,
    DingTalkChannel,
    EmailChannel,
    Message,
    SmsChannel,
    SmsSuccess,
    WebhookChannel,
    WeComChannel,
    redact,
)

__all__ = ["Channel", "ChannelError", "Delivery", "DingTalkChannel", "EmailChannel", "Message",
           "SmsChannel", "SmsSuccess", "WeComChannel", "WebhookChannel", "redact", "send"]
