"""The config's receivers and panels, and a point's binding to a panel's component, as they
are written (``gateway.config.panels`` compiles them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gateway.config.schema import BiText, Duration, LocationModel, Strict

MAX_ADDRESS = 2**48 - 1
CATEGORIES = ("alarm", "supervisory", "trouble", "bypass", "test", "open_close")


class GbtReceiverModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    host: str = "0.0.0.0"  # the devices call in from the building's network
    port: int = Field(ge=1, le=65535)
    center_address: int = Field(ge=0, le=MAX_ADDRESS)
    idle_timeout: Duration = 90.0  # no frame, not even a heartbeat: the device is offline
    max_connections: int = Field(default=256, ge=1, le=10_000)


class Dc09AccountModel(Strict):
    account: str = Field(pattern=r"^[0-9A-Fa-f]{3,16}$")
    # the account's AES key: 32, 48 or 64 hex digits; or, with key_format text, the 16, 24 or
    # 32 characters themselves (as many panels and receivers take it)
    key: str | None = None
    key_format: Literal["hex", "text"] = "hex"
    link_test: Duration = 0.0  # a NULL message expected at least this often (0: not watched)
    # what this panel's event codes mean where it differs from the default table: a category
    # (alarm, supervisory, trouble, bypass, test, open_close), a trouble with its condition
    # ("trouble:low_battery"), e.g. {150: alarm, 381: "trouble:sensor_fault"}
    codes: dict[int, str] = Field(default_factory=dict)

    @field_validator("codes")
    @classmethod
    def _known_categories(cls, codes: dict[int, str]) -> dict[int, str]:
        for code, what in codes.items():
            category = what.partition(":")[0]
            if not 0 < code < 1000 or category not in CATEGORIES:
                raise ValueError(f"code {code}: {what!r} is not one of "
                                 f"{', '.join(CATEGORIES)} (with ':condition' for a trouble)")
        return codes


class Dc09ReceiverModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    host: str = "0.0.0.0"  # the panels call in from the site's network
    port: int = Field(ge=1, le=65535)
    tcp: bool = True
    udp: bool = True
    window_past: Duration = 40.0  # how old a message's timestamp may be
    window_future: Duration = 20.0  # and how far ahead
    idle_timeout: Duration = 300.0
    max_connections: int = Field(default=256, ge=1, le=10_000)
    accounts: list[Dc09AccountModel] = Field(min_length=1)


class ReceiversModel(Strict):
    gbt26875: list[GbtReceiverModel] = Field(default_factory=list)
    dc09: list[Dc09ReceiverModel] = Field(default_factory=list)


class AccountBindingModel(Strict):
    """A point of a panel account reporting to a DC-09 receiver: a zone, or (no zone) the
    account's own point."""

    receiver: str
    account: str = Field(pattern=r"^[0-9A-Fa-f]{3,16}$")
    zone: int | None = Field(default=None, ge=0, le=999)


class PanelModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    receiver: str
    device: int = Field(ge=0, le=MAX_ADDRESS)
    system: int = Field(default=1, ge=0, le=255)
    system_type: int = Field(default=1, ge=0, le=255)
    name: BiText | None = None
    location: LocationModel = Field(default_factory=LocationModel)
    components: str | None = None  # a CSV table, relative to the config file


class PanelBindingModel(Strict):
    id: str
    zone: int = Field(ge=0, le=65535)
    point: int = Field(ge=0, le=65535)
