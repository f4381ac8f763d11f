"""A point's conditions over several readings of its device (``inputs:`` and ``when:``; see
``gateway.domain.rules``) compiled onto the point's binding, each mistake a problem at its
place in the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gateway.config.modbus import WORDS, ModbusBinding
from gateway.config.rules_schema import InputModel, RuleModel
from gateway.config.site_values import MqttBinding
from gateway.domain.model import PointState
from gateway.domain.rules import FUNCTIONS, Rule, Rules, parse

Problem = Callable[[tuple[str | int, ...], str], None]
RESERVED = frozenset({"value", "true", "false", "null", "none", *FUNCTIONS})
_SPAN = {"holding": 125, "input": 125, "coil": 2000, "discrete_input": 2000}


def _rules(when: list[RuleModel], names: set[str], at: tuple[str | int, ...],
           problem: Problem) -> Rules:
    rules: list[Rule] = []
    for i, model in enumerate(when):
        if rules and rules[-1].when is None:
            problem((*at, "when", i), "a rule after 'otherwise' is never reached")
        if model.when is None:
            rules.append(Rule(None, model.otherwise or PointState.NORMAL))
            continue
        try:
            rules.append(Rule(parse(model.when, names), model.state or PointState.NORMAL))
        except ValueError as exc:
            problem((*at, "when", i, "if"), str(exc))
    return Rules(tuple(rules), tuple(sorted(names - {"value"})))


def mqtt_rules(binding: MqttBinding, inputs: dict[str, InputModel],
               when: list[RuleModel], at: tuple[str | int, ...],
               problem: Problem) -> MqttBinding:
    fields = []
    for name, model in inputs.items():
        if model.field is None or model.address is not None:
            problem((*at, "inputs", name), "an input of an MQTT point is a payload field: "
                    "{field: path.in.payload}")
            continue
        fields.append((name, model.field))
    if binding.decoder in ("plain", "contact_id") and fields:
        problem((*at, "inputs"), f"a {binding.decoder} payload has no fields to read")
    if binding.decoder == "contact_id":
        problem((*at, "when"), "a Contact ID event's state comes from its code: conditions "
                "('when') read JSON, Zigbee2MQTT or plain payloads")
    rules = _rules(when, {"value", *inputs}, at, problem)
    return replace(binding, inputs=tuple(fields), rules=rules)


def modbus_rules(binding: ModbusBinding, inputs: dict[str, InputModel],
                 when: list[RuleModel], at: tuple[str | int, ...],
                 problem: Problem) -> ModbusBinding:
    bit_table = binding.table in ("coil", "discrete_input")
    read: list[tuple[str, ModbusBinding]] = []
    for name, model in inputs.items():
        if model.address is None or model.field is not None:
            problem((*at, "inputs", name), "an input of a Modbus point is a register or bit "
                    "of the same unit and table: {address: N} (type, bit as for a binding)")
            continue
        kind = model.type or ("bool" if bit_table else ("bit" if model.bit is not None
                                                        else "uint16"))
        read.append((name, replace(
            binding, address=model.address, type=kind, bit=model.bit, scale=model.scale,
            offset=model.offset, mask=None, values={}, thresholds=(), bits=(), counter=False,
            inputs=(), rules=None)))
    first = min([binding.address, *(b.address for _, b in read)])
    last = max([binding.address + WORDS[binding.type] - 1,
                *(b.address + WORDS[b.type] - 1 for _, b in read)])
    if last - first + 1 > _SPAN[binding.table]:
        problem((*at, "inputs"), f"the point and its inputs span {last - first + 1} "
                f"{'bits' if bit_table else 'registers'} ({first}..{last}); they are read in "
                f"one request, of at most {_SPAN[binding.table]}")
    rules = _rules(when, {"value", *inputs}, at, problem)
    return replace(binding, inputs=tuple(read), rules=rules)


def _names(inputs: dict[str, InputModel], at: tuple[str | int, ...],
           problem: Problem) -> None:
    for name, model in inputs.items():
        if not name.isidentifier() or name in RESERVED or name.lower() in RESERVED:
            problem((*at, "inputs", name), f"'{name}' cannot name an input: a name is a word "
                    "of letters, digits and _, and not value, true, false, null or a "
                    f"function ({', '.join(sorted(FUNCTIONS))})")
        if model.type == "bit" and model.bit is None:
            problem((*at, "inputs", name), "type bit needs 'bit: N' (0..15)")


def with_rules(inputs: dict[str, InputModel], when: list[RuleModel],
               mqtt: MqttBinding | None, modbus: ModbusBinding | None,
               at: tuple[str | int, ...],
               problem: Problem) -> tuple[MqttBinding | None, ModbusBinding | None]:
    """The point's bindings with its conditions on them (unchanged without any)."""
    _names(inputs, at, problem)
    if not when:
        if inputs:
            problem((*at, "inputs"), "inputs are read for the point's conditions ('when'), "
                    "and it has none")
        return mqtt, modbus
    if mqtt is not None:
        return mqtt_rules(mqtt, inputs, when, at, problem), modbus
    if modbus is not None:
        return mqtt, modbus_rules(modbus, inputs, when, at, problem)
    problem((*at, "when"), "conditions ('when') read MQTT payloads or Modbus registers; a "
            "panel's point has its state from the panel")
    return mqtt, modbus
