"""The config's receivers and panels, and a point's binding to a panel's component, as they
are written (``gateway.config.panels`` compiles them)."""

from __future__ import annotations

from pydantic import Field

from gateway.config.schema import BiText, Duration, LocationModel, Strict

MAX_ADDRESS = 2**48 - 1


class GbtReceiverModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    host: str = "0.0.0.0"
    port: int = Field(ge=1, le=65535)
    center_address: int = Field(ge=0, le=MAX_ADDRESS)
    idle_timeout: Duration = 90.0  # no frame, not even a heartbeat: the device is offline
    max_connections: int = Field(default=256, ge=1, le=10_000)


class ReceiversModel(Strict):
    gbt26875: list[GbtReceiverModel] = Field(default_factory=list)


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
