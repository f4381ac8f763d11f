"""The YAML of a point's conditions over several readings of its device (``inputs:`` and
``when:``; compiled by ``gateway.config.point_rules``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from gateway.config.modbus import DataType
from gateway.config.schema import Strict
from gateway.domain.model import PointState


class InputModel(Strict):
    """Another reading of the point's device: a payload field (MQTT), or a register or bit of
    the same Modbus unit and table, read in the same request as the point."""

    field: str | None = None
    address: int | None = Field(None, ge=0, le=65535)
    type: DataType | None = None
    bit: int | None = Field(None, ge=0, le=15)
    scale: float = 1.0
    offset: float = 0.0


class RuleModel(Strict):
    """``{if: EXPRESSION, state: STATE}``, or ``{otherwise: STATE}`` last."""

    when: str | None = Field(None, alias="if")
    state: PointState | None = None
    otherwise: PointState | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RuleModel:
        if (self.when is None) == (self.otherwise is None) or \
                (self.when is not None) != (self.state is not None):
            raise ValueError("a rule is {if: EXPRESSION, state: STATE} or {otherwise: STATE}")
        return self
