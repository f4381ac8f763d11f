"""The one place an event becomes text (gateway.present.timeline): every kind has its line in
both languages, and the reasons the engine gives as codes read the same as the sentences older
records carry."""

from __future__ import annotations

import pytest

from gateway.domain.events import REOPENED_BY_ALARM, Escalation, EventKind, StageReason
from gateway.domain.model import Event, Text
from gateway.present.names import Names
from gateway.present.timeline import describe, event_json

T0 = 1_800_000_000.0
NAMES = Names(branches={"verdict": Text("现场核实结果？", "What did the patrol find?")},
              options={("verdict", "fire"): Text("确认火灾", "Confirmed fire")},
              stages={"confirmed": Text("火警（已确认）", "Fire — confirmed")})


def line(kind: EventKind, point_id: str = "B1-F2-Z2", **data: object) -> Text:
    return describe(Event(kind, T0, "INC-000001", point_id, "", dict(data)), NAMES)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_of_event_has_a_line_of_its_own_in_both_languages(kind: EventKind) -> None:
    text = line(kind)
    assert text.zh
    assert text.en
    assert text.zh != kind.value, f"{kind} falls back on its bare name"


@pytest.mark.parametrize(("data", "legacy", "zh", "en"), [
    ({"reason": StageReason.POINT_REACHED, "point": "GEN-01", "state": "trouble"},
     "GEN-01 reached trouble", "GEN-01 达到故障", "GEN-01 reached trouble"),
    ({"reason": StageReason.DEVICES_IN_SCOPE, "count": 2, "within": "floor"},
     "2 independent devices in one floor", "同一楼层内2个独立设备报警",
     "2 independent devices in one floor"),
    ({"reason": StageReason.BRANCH_DECIDED, "by_branch": "verdict", "by_option": "fire"},
     "verdict: fire", "现场核实结果？ → 确认火灾", "What did the patrol find? → Confirmed fire"),
    ({"reason": StageReason.CONFIRMED_BY_OPERATOR}, "confirmed by operator", "操作员确认",
     "confirmed by an operator"),
    ({"reason": StageReason.OPENED_BY_HAND}, "opened by hand", "手动开启", "opened by hand"),
])
def test_a_stage_reason_reads_the_same_from_its_code_and_from_an_older_sentence(
        data: dict[str, object], legacy: str, zh: str, en: str) -> None:
    coded = line(EventKind.STAGE_ENTERED, stage="confirmed", **data)
    older = line(EventKind.STAGE_ENTERED, stage="confirmed", reason=legacy)
    assert coded == older
    assert coded.zh == f"进入阶段「火警（已确认）」：{zh}"
    assert coded.en == f'stage "Fire — confirmed": {en}'


def test_a_reopening_by_a_new_alarm_reads_the_same_from_its_cause_and_an_older_sentence() -> None:
    coded = line(EventKind.REOPENED, "B1-F14-Z1", cause=REOPENED_BY_ALARM)
    older = line(EventKind.REOPENED, "", reason="new alarm from B1-F14-Z1")
    assert coded == older == Text("重新打开：B1-F14-Z1 新报警",
                                  "reopened: new alarm from B1-F14-Z1")
    assert line(EventKind.REOPENED, reason="住户报告仍有焦味").zh == "重新打开：住户报告仍有焦味"


def test_an_escalation_names_its_reason_in_words() -> None:
    text = line(EventKind.ESCALATED, to="duty_supervisor", to_zh="当值主管",
                to_en="Duty supervisor", reason=Escalation.ACTION_FAILED, withheld=True)
    assert text.zh == "升级至 duty_supervisor：联动失败（演练：未实际发送）"
    assert "action failed" in text.en


def test_the_console_gets_the_record_and_its_line() -> None:
    event = Event(EventKind.NOTE, T0, "INC-000001", "", "李明", {"text": "<b>烟</b>"})
    body = event_json(event, NAMES)
    assert body["kind"] == "note"
    assert body["text"] == {"zh": "备注：<b>烟</b>", "en": "note: <b>烟</b>"}
    assert body["data"] == {"text": "<b>烟</b>"}
