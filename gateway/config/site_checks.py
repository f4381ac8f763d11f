"""What the schema cannot see in a site config and what hurts on the day: an actuator's
feedback waiting for a value its point never reports (every recall failed and escalated while
the cars stood at the ground floor), a register mapped two ways at once, a Modbus address in
the 1-based "Modicon" notation, a timeout of zero, a topic that no subscription of the broker
brings in. Each is a problem at its place in the file; ``compile_site`` refuses the config
with them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from adapters.mqtt_topics import covering
from gateway.config.modbus import ModbusBinding, ModbusBindingModel
from gateway.config.panels import Report
from gateway.config.site_schema import CommandModel, PointModel, SiteConfigModel
from gateway.config.site_values import MqttBinding, PointConfig
from gateway.domain.model import value_key

Loc = tuple[str | int, ...]
# what a point reports (in words), whether a feedback value (as value_key writes it) is among
# it, and what to write instead
Reports = tuple[str, Callable[[str], bool], str]

BOOLEANS = frozenset({"true", "false"})
# the 1-based notation of register tables: (first, last, table, what it is called)
MODICON = ((40001, 49999, "holding", "holding register"),
           (30001, 39999, "input", "input register"),
           (10001, 19999, "discrete_input", "discrete input"))


def check_site(model: SiteConfigModel, points: list[tuple[int, PointModel]],
               compiled: Mapping[str, PointConfig], report: Report) -> None:
    told: set[Loc] = set()

    def once(at: Loc, message: str) -> None:
        # the points of one for_each entry share their place in the file: one problem there
        if at not in told:
            told.add(at)
            report(at, message)

    for index, point in points:
        at: Loc = ("points", index)
        if point.heartbeat is not None and point.heartbeat <= 0:
            once((*at, "heartbeat"), _zero("heartbeat", "takes the point offline between any "
                                           "two of its messages", "25h"))
        if point.modbus is not None:
            _one_way(point.modbus, (*at, "modbus"), once)
            if not point.modbus.protocol_address:
                _modicon(point.modbus.table, point.modbus.address, (*at, "modbus", "address"),
                         once)
    for index, actuator in enumerate(model.actuators):
        for name, command in actuator.commands.items():
            _command(command, ("actuators", index, "commands", name), compiled, once)
    _timeouts(model, once)
    if model.broker is not None and model.broker.subscriptions:
        _subscribed(model.broker.subscriptions, points, compiled, once)


def _zero(field: str, harm: str, example: str) -> str:
    article = "an" if field[0] in "aeiou" else "a"
    return f"{article} {field} of 0 {harm}: give the time to wait, e.g. {example}"


def _timeouts(model: SiteConfigModel, report: Report) -> None:
    for index, connection in enumerate(model.modbus):
        if connection.timeout <= 0:
            report(("modbus", index, "timeout"), _zero(
                "timeout", "fails every request before the device can answer", "500ms"))
    idle = [("gbt26875", i, r.idle_timeout) for i, r in enumerate(model.receivers.gbt26875)]
    idle += [("dc09", i, r.idle_timeout) for i, r in enumerate(model.receivers.dc09)]
    for kind, index, seconds in idle:
        if seconds <= 0:
            report(("receivers", kind, index, "idle_timeout"), _zero(
                "idle_timeout", "cuts every device off between two of its frames", "90s"))
    if model.broker is not None and model.broker.keepalive < 1:
        # paho takes whole seconds: anything under one is 0, which turns keep-alive off
        report(("broker", "keepalive"), "a keepalive under 1s turns the MQTT keep-alive off, "
               "and a dead connection to the broker would go unnoticed: give e.g. 30s")


def _command(command: CommandModel, at: Loc, compiled: Mapping[str, PointConfig],
             report: Report) -> None:
    if command.modbus is not None and not command.modbus.protocol_address:
        _modicon(command.modbus.table, command.modbus.address, (*at, "modbus", "address"),
                 report, writable=True)
    feedback = command.feedback
    if feedback is None:
        return
    if feedback.timeout <= 0:
        report((*at, "feedback", "timeout"), _zero(
            "timeout", "fails the action before the device can confirm it", "90s"))
    point = compiled.get(feedback.point)
    if feedback.value is None or point is None:
        return
    reports = _reports(point)
    if reports is None or reports[1](value_key(feedback.value)):
        return
    what, _, fix = reports
    report((*at, "feedback", "value"),
           f"point {point.id} {what}, never {_shown(feedback.value)}: this feedback can never "
           f"be met, so every '{at[-1]}' would fail at its timeout and be escalated; {fix}")


def _shown(value: float | bool | str) -> str:
    return repr(value) if isinstance(value, str) else value_key(value)


def _reports(point: PointConfig) -> Reports | None:
    """What values a point's readings carry (``gateway.points.decode``); None where the
    check does not know (Contact ID and DC-09 reports, a panel's own points, a point whose
    conditions over several readings decide its state: its raw value is kept as it comes)."""
    if any(b is not None and b.rules is not None for b in (point.modbus, point.mqtt)):
        return None
    if point.modbus is not None:
        return _modbus_reports(point.modbus)
    if point.mqtt is not None:
        return _mqtt_reports(point.mqtt)
    if point.panel is not None and point.panel.role == "component":
        return ("reports its feedback (反馈) bit as true or false", BOOLEANS.__contains__,
                "write value: true (or false)")
    return None


def _modbus_reports(b: ModbusBinding) -> Reports:
    if b.type == "bool":
        return (f"is a {b.table.replace('_', ' ')} and reports true or false",
                BOOLEANS.__contains__, "write value: true (or false)")
    if b.type == "bit":
        return (f"reads bit {b.bit} of its register as 1 or 0", {"0", "1"}.__contains__,
                "write value: 1 (or 0)")
    if b.values:
        return _mapped(b.values, numbers=False)
    whole = b.type != "float32" and (b.counter or bool(b.bits)
                                     or (b.scale == 1.0 and b.offset == 0.0))
    what = "its status word" if b.bits else "its register"

    def accepts(key: str) -> bool:
        number = _number(key)
        return number is not None and (number.is_integer() or not whole)

    return (f"reports {what} as a {'whole ' if whole else ''}number ({b.type})", accepts,
            "write the number it reports (value: 2), or wait for a state (state: normal)")


def _mqtt_reports(b: MqttBinding) -> Reports | None:
    if b.decoder == "contact_id":
        return None
    if b.decoder == "zigbee2mqtt" and not b.values:
        numbers = bool(b.value_property)
        return (f"reports its property '{b.property}' as true or false"
                + (f" and '{b.value_property}' as a number" if numbers else ""),
                lambda key: key in BOOLEANS or (numbers and _number(key) is not None),
                "write value: true (or false)")
    return _mapped(b.values, numbers=bool(b.thresholds) or bool(b.value_property))


def _mapped(values: Mapping[str, object], *, numbers: bool) -> Reports:
    listed = ", ".join(sorted(values))
    what = f"the values its 'values' maps ({listed})" if values else ""
    return ("reports only " + " and ".join(w for w in (what, "numbers" if numbers else "") if w),
            lambda key: key in values or (numbers and _number(key) is not None),
            "write one of them (as the device sends it), or wait for a state (state: normal)")


def _number(key: str) -> float | None:
    try:
        number = float(key)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _one_way(b: ModbusBindingModel, at: Loc, report: Report) -> None:
    """A register's value becomes a state one way: its status bits, exact values or
    thresholds (``decode_modbus`` takes the first it finds, in that order)."""
    ways = [name for name, given in (("bits", b.bits), ("values", b.values),
                                     ("thresholds", b.thresholds)) if given]
    if len(ways) < 2:
        return
    report((*at, ways[-1]), f"{' and '.join(repr(w) for w in ways)} on one point: its value "
           f"is read one way only ('{ways[0]}' would win and {_rest(ways[1:])} never be "
           "looked at); keep one, or bind the register as two points (several may read it: "
           "one with 'bits' for the status word, one with 'thresholds' for the measured value)")


def _rest(ways: list[str]) -> str:
    return " and ".join(f"'{w}'" for w in ways)


def _modicon(table: str, address: int, at: Loc, report: Report, *,
             writable: bool = False) -> None:
    """5-digit addresses as register tables print them (40001 for the first holding
    register) are 1-based with the table's digit; the wire, and the config, count from 0.
    A device whose own protocol addresses lie there says so with ``protocol_address: true``."""
    for first, last, meant, name in MODICON:
        plausible = meant == "discrete_input" and table in ("holding", "input")
        if first <= address <= last and not plausible:
            n = address - first
            if meant == table:
                fix = f"address: {n}"
            elif writable and meant not in ("holding", "coil"):
                fix = "the writable register the device's map gives (a command writes a coil " \
                      "or a holding register)"
            else:
                fix = f"table: {meant}, address: {n}"
            report(at, f"address {address} is the 1-based Modicon notation: bindings use the "
                   f"0-based protocol address: {address} is {name} {n}; write {fix} (or "
                   "protocol_address: true if the device's own map numbers it so)")
            return


def _subscribed(filters: list[str], points: list[tuple[int, PointModel]],
                compiled: Mapping[str, PointConfig], report: Report) -> None:
    """Every topic a point listens on comes in through a filter of broker.subscriptions."""
    for index, point in points:
        binding = compiled[point.id].mqtt if point.id in compiled else None
        if binding is None or point.mqtt is None:
            continue
        for field, topic in (("topic", binding.topic), ("availability", binding.availability),
                             ("bridge", binding.bridge)):
            if not topic or covering(filters, topic) is not None:
                continue
            written = field == "topic" or isinstance(getattr(point.mqtt, field), str)
            what = "topic" if field == "topic" else f"{field} topic"
            default = "" if written else f" (the {point.mqtt.decoder} default)"
            report(("points", index, "mqtt", field) if written else ("points", index, "mqtt"),
                   f"{what} {topic!r}{default} is covered by no filter of broker.subscriptions "
                   f"({', '.join(filters)}): its messages would never arrive; add it, or a "
                   f"filter that covers it such as '{topic.split('/')[0]}/#'"
                   + ("" if written else f", or write {field}: false"))
