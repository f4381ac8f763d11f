"""What a reading would do, said before going live: which point it is for, how its binding
reads it, which condition or mapping gives the state, and which playbook that state opens,
with the first steps and auto-actions it would start. Nothing is run, stored or sent: a
technician's dry run of a topic and payload, or of Modbus register values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from gateway.config.modbus import ModbusBinding
from gateway.config.site import PointConfig, SiteConfig
from gateway.domain.model import PointState, Text
from gateway.engine.state import place
from gateway.errors import DecodeError
from gateway.playbook.definition import Playbook
from gateway.points.conditioning import condition
from gateway.points.decode import Reading, decode
from gateway.points.decode_modbus import decode_modbus, modbus_value
from gateway.present.words import STATE_WORDS, pair


@dataclass(frozen=True, slots=True)
class Explanation:
    point_id: str
    name: Text
    binding: str  # how it is read: topic and field, or connection/unit/table/address
    value: object = None
    state: PointState | None = None
    decided_by: str = ""  # the condition or mapping that gave the state
    error: str = ""  # what is wrong with the reading, as the gateway would dead-letter it
    playbooks: tuple[str, ...] = ()  # the playbooks the state opens (or joins)
    steps: tuple[Text, ...] = ()  # their first stage's steps
    actions: tuple[Text, ...] = ()  # and its auto-actions
    notes: tuple[str, ...] = field(default_factory=tuple)


def _decided(reading: Reading, point: PointConfig) -> str:
    """What gave the state: ``condition when …``, thresholds, bits, counter, values, or the
    default (a binding with no mapping is always normal)."""
    if reading.reason:
        return f"condition {reading.reason}"
    if reading.state is None:
        return "thresholds"
    m = point.mqtt or point.modbus
    if isinstance(m, ModbusBinding) and (m.bits or m.counter):
        return "bits" if m.bits else "counter"
    return "values" if m is not None and getattr(m, "values", None) else "default"


def _explain(point: PointConfig, reading: Reading | None, where: str,
             playbooks: Mapping[str, Playbook]) -> Explanation:
    name = point.name
    if reading is None:
        return Explanation(point.id, name, where, notes=("null",))
    status, (signal, *_) = condition(point, None, reading, 0.0, source=where)
    opened = [p for p in playbooks.values() if p.trigger is not None and (
        p.trigger.matches(point.kind, signal.state, point.id, place(point.location))
        or p.trigger.joins(point.kind, signal.state))]
    first = [p.stages[0] for p in opened if p.stages]
    return Explanation(
        point.id, name, where, reading.value, status.state,
        _decided(reading, point), playbooks=tuple(p.id for p in opened),
        steps=tuple(s.text for stage in first for s in stage.steps),
        actions=tuple(a.name for stage in first for a in stage.actions))


def explain_mqtt(site: SiteConfig, playbooks: Mapping[str, Playbook], topic: str,
                 payload: bytes) -> list[Explanation]:
    """Each point bound to the topic, and what the payload would make of it."""
    out = []
    for point in site.points_by_topic().get(topic, ()):
        binding = point.mqtt
        if binding is None:
            continue
        where = f"mqtt {topic}" + (f" field {binding.field}" if binding.field else "") + (
            f" property {binding.property}" if binding.property else "")
        out.append(_read(point, where, partial(decode, binding, payload), playbooks))
    return out


def _read(point: PointConfig, where: str, read: Callable[[], Reading | None],
          playbooks: Mapping[str, Playbook]) -> Explanation:
    """The reading explained, or why the gateway would refuse it."""
    try:
        reading = read()
    except DecodeError as exc:
        return Explanation(point.id, point.name, where, error=f"{exc.reason}: {exc.detail}")
    return _explain(point, reading, where, playbooks)


def explain_modbus(site: SiteConfig, playbooks: Mapping[str, Playbook], connection: str,
                   unit: int, table: str, address: int,
                   values: Sequence[int]) -> list[Explanation]:
    """Each point of that unit and table whose registers (and inputs) lie in the words given
    from ``address`` on, and what they would make of it."""
    out = []
    end = address + len(values)
    for point in site.points.values():
        m = point.modbus
        if m is None or (m.connection, m.unit, m.table) != (connection, unit, table):
            continue
        reads = [m, *(b for _, b in m.inputs)]
        if any(b.address < address or b.address + b.words > end for b in reads):
            continue
        words = [values[b.address - address:b.address - address + b.words] for b in reads]

        def read(m: ModbusBinding = m, words: list[Sequence[int]] = words) -> Reading:
            inputs = {n: modbus_value(b, w) for (n, b), w in zip(m.inputs, words[1:],
                                                                 strict=True)}
            return decode_modbus(m, words[0], None, inputs)

        out.append(_read(point, f"modbus {connection}/{unit}/{table}/{m.address}", read,
                         playbooks))
    return out


def render(found: Sequence[Explanation], playbooks: Mapping[str, Playbook]) -> str:
    """The explanation as the command line prints it (zh / en)."""
    if not found:
        return "没有点位绑定到此输入 / no point is bound to this input\n"
    lines = []
    for e in found:
        lines.append(f"{e.point_id}  {e.name.zh} / {e.name.en}")
        lines.append(f"  读取 read:     {e.binding}")
        if e.error:
            lines.append(f"  错误 error:    {e.error} (dead-lettered, counted; the point "
                         "keeps its state)")
            continue
        for _ in e.notes:  # the only one: a message without a reading
            lines.append("  说明 note:     此消息不含读数 / the message carries no reading (null): "
                         "nothing changes")
        if e.state is None:
            continue
        state = pair(STATE_WORDS, e.state.value)
        lines.append(f"  值 value:      {e.value!r}")
        lines.append(f"  状态 state:    {state.zh} / {state.en}  (by {e.decided_by})")
        if e.decided_by == "default":
            lines.append("  说明 note:     the binding maps no value: always normal, value kept")
        if not e.playbooks:
            lines.append("  预案 playbook: 不开启事件 / opens no incident")
        for pid in e.playbooks:
            p = playbooks[pid]
            lines.append(f"  预案 playbook: {p.name.zh} / {p.name.en} ({pid})")
        lines.extend(f"    步骤 step:   {s.zh}" for s in e.steps)
        lines.extend(f"    联动 action: {a.zh} / {a.en}" for a in e.actions)
    return "\n".join(lines) + "\n"


def to_json(found: Sequence[Explanation],
            playbooks: Mapping[str, Playbook]) -> list[dict[str, object]]:
    return [{"point_id": e.point_id, "name": {"zh": e.name.zh, "en": e.name.en},
             "binding": e.binding, "value": e.value,
             "state": e.state.value if e.state else None, "decided_by": e.decided_by,
             "error": e.error, "notes": list(e.notes), "playbooks": list(e.playbooks),
             "playbook_names": [{"zh": playbooks[p].name.zh, "en": playbooks[p].name.en}
                                for p in e.playbooks],
             "steps": [{"zh": s.zh, "en": s.en} for s in e.steps],
             "actions": [{"zh": a.zh, "en": a.en} for a in e.actions]} for e in found]
