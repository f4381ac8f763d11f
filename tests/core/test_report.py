"""Incident reports built from real engine runs (the test_engine Harness), through the store."""

from __future__ import annotations

import argparse
import html
import re
import sqlite3
from pathlib import Path

import pytest

from gateway.cli.reports import add_parsers
from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.incident import Incident
from gateway.domain.model import ActionStatus, Text
from gateway.engine.machine import Engine
from gateway.engine.state import OperatorCommand
from gateway.errors import GatewayError
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.present.pages import md_escape
from gateway.present.report import build_report
from gateway.present.report_render import render_html, render_markdown
from gateway.present.report_summary import ending
from gateway.present.report_values import (
    LATE,
    MISSED,
    NOT_DUE,
    ON_TIME,
    UNTIMED,
    ActionItem,
    IncidentReport,
    ResponseItem,
)
from gateway.present.words import clock
from gateway.store import open_records
from gateway.store.sqlite.schema import connect
from gateway.store.values import UserRow, WriteSet
from tests.support.engine import AS_IT_STANDS, CLOSE, REVIEW, T0, Harness
from tests.support.sites import SMALL_SITE

CONFIG = SMALL_SITE
HOSTILE_ZONE = "<img src=x onerror=alert(1)>"
HOSTILE_NOTE = "<script>alert('x')</script> | 油烟\n第二行"

# A manual playbook whose valve prompt needs a second operator, with an outside call.
FLOOD_PLAYBOOK = """
id: pump_room_flood
name: {zh: 水泵房进水, en: Pump room flooding}
category: equipment
severity: high
statement: {zh: 工程部正在处理水泵房进水。, en: Engineering is dealing with water in the pump room.}
review:
  handling: {zh: 处理经过与时间, en: What was done and when}
  analysis: {zh: 进水原因, en: Why the water came in}
  improvement: {zh: 整改措施, en: What to fix}
stages:
  - id: reported
    name: {zh: 进水（处理中）, en: Flooding — being handled}
    steps:
      - id: inspect
        role: engineering
        arrival: true
        text:
          zh: 工程部 5 分钟内到场检查，确认进水位置。
          en: Engineering on site within 5 minutes, finding where the water comes in.
        deadline: 5m
    prompts:
      - id: close_inlet
        text: {zh: 关闭水泵房进水总阀？, en: Close the pump room water inlet valve?}
        timeout: 2m
        on_timeout: wait
        second_confirmation: true
        actions:
          - id: close_inlet_valve
            name: {zh: 关闭进水总阀, en: Close the inlet valve}
            actuators: [V-WATER-PUMP-01]
            command: close
      - id: call_power
        call: power_bureau
        facts: [project, address, where, callback, caller]
        timeout: 3m
        on_timeout: escalate
        escalate_to: duty_supervisor
        text: {zh: 通知供电局：已拨打？, en: "Call the power bureau: called?"}
"""


@pytest.fixture(scope="module")
def playbooks(site: SiteConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Playbook]:
    extra = tmp_path_factory.mktemp("playbooks")
    (extra / "pump_room_flood.yaml").write_text(FLOOD_PLAYBOOK, encoding="utf-8")
    return {**load_playbooks(site.playbook_dir, site), **load_playbooks(extra, site)}


@pytest.fixture(scope="module")
def engine(site: SiteConfig, playbooks: dict[str, Playbook]) -> Engine:
    return Engine(site, playbooks)


# ----------------------------------------------------------------------------- helpers


def at(h: Harness, seconds: float) -> None:
    assert T0 + seconds >= h.now, "time only moves forward"
    h.now = T0 + seconds


def tick_at(h: Harness, seconds: float) -> None:
    at(h, seconds)
    h.run(h.engine.on_tick(h.state, h.now))


def past(h: Harness, seconds: float) -> str:
    return site_time.wall(h.now - seconds)


def latest(h: Harness, incident_id: str) -> Incident:
    found = [o.incidents[incident_id] for o in h.log if incident_id in o.incidents]
    return found[-1]


def on_stored(h: Harness, verb: str, incident_id: str, actor: str, **args: str) -> None:
    """A command on a closed incident: the runtime hands in the stored snapshot."""
    cmd = OperatorCommand(verb, incident_id, actor, args)
    h.run(h.engine.on_command(h.state, cmd, h.now, stored=latest(h, incident_id)))


def persist(h: Harness, path: Path) -> None:
    ws = WriteSet()
    for outcome in h.log:
        ws.events.extend(outcome.events)
        ws.incidents.update(outcome.incidents)
    with open_records(path) as records:
        records.write_batch(ws, h.now)


def stored_report(h: Harness, incident_id: str, path: Path, site: SiteConfig | None,
                  playbooks: dict[str, Playbook],
                  people: dict[str, str] | None = None) -> IncidentReport:
    persist(h, path)
    with open_records(path, readonly=True) as records:
        incident = records.get_incident(incident_id)
        assert incident is not None
        events = records.incident_events(incident_id)
    return build_report(incident, events, playbooks.get(incident.type), site, people=people)


# ----------------------------------------------------------------------------- scenarios


def fire_drill(h: Harness) -> str:
    """A drill: on time mostly, the supervisor 100 s late, the PA prompt left to its timeout,
    the gas/power prompt answered 55 s after its timeout escalated."""
    h.signal("B1-F12-Z3", device="SD-01", drill=True)
    incident_id = h.only().id
    at(h, 30)
    h.command("ack", incident_id, actor="李明")
    at(h, 150)
    h.command("arrive", incident_id, actor="李明", role="on_duty_patrol", who="张三")
    at(h, 170)
    h.command("decide", incident_id, actor="张三", branch="verdict", option="confirmed",
              note="三楼走廊有烟")
    at(h, 171)
    for action in h.only().actions:
        h.run(h.engine.on_action_result(h.state, incident_id, action.id, ActionStatus.WITHHELD,
                                        "drill: real write withheld", h.now))
    at(h, 200)
    h.command("step", incident_id, actor="李明", step="notify_management", note="已电话通知")
    at(h, 210)
    h.command("answer", incident_id, actor="李明", prompt="call_119", answer="yes")
    tick_at(h, 291)  # start_pa times out: acts
    tick_at(h, 301)  # supervisor_on_scene missed
    tick_at(h, 351)  # cut_gas_and_power times out: escalates
    at(h, 400)
    h.command("arrive", incident_id, actor="李明", role="duty_supervisor", who="赵主管")
    at(h, 405)
    h.command("answer", incident_id, actor="王工", prompt="cut_gas_and_power", answer="yes")
    at(h, 410)
    h.command("step", incident_id, actor="王工", step="fire_equipment")
    at(h, 420)
    h.command("record", incident_id, actor="李明", field="cause", value="演练：模拟烟雾")
    h.command("record", incident_id, actor="李明", field="injuries", value="无")
    h.command("record", incident_id, actor="李明", field="brigade_arrived_at", value=past(h, 60))
    h.command("record", incident_id, actor="李明", field="fire_out_at", value=past(h, 30))
    at(h, 430)
    h.command("close", incident_id, actor="张主管", **CLOSE)
    return incident_id


def hostile_false_alarm(h: Harness) -> str:
    """Opened by hand with a hostile zone name; the patrol arrives 20 s late; false alarm."""
    h.command("open", "", actor="李明", playbook="fire", building="1", floor="12",
              zone=HOSTILE_ZONE, reporter="住户 1201", note="闻到焦味")
    incident_id = h.only().id
    at(h, 30)
    h.command("ack", incident_id, actor="李明")
    tick_at(h, 181)
    at(h, 200)
    h.command("arrive", incident_id, actor="李明", role="on_duty_patrol", who="张三")
    at(h, 230)
    h.command("reject", incident_id, actor="张三", note=HOSTILE_NOTE)
    at(h, 260)
    h.command("step", incident_id, actor="张三", step="find_cause", note="厨房油烟")
    at(h, 270)
    h.command("record", incident_id, actor="李明", field="cause", value="厨房油烟 | 未开油烟机")
    h.command("record", incident_id, actor="李明", field="injuries", value="无")
    at(h, 280)
    h.command("note", incident_id, actor="李明", text=HOSTILE_ZONE)
    at(h, 290)
    h.command("close", incident_id, actor="张主管", **CLOSE)
    at(h, 290 + 3600)
    on_stored(h, "follow_up", incident_id, "客服小刘", task="resident_visit", note="住户满意")
    return incident_id


def second_confirmation(h: Harness) -> str:
    h.command("open", "", actor="李明", playbook="pump_room_flood", building="1", floor="B2")
    incident_id = h.only().id
    at(h, 20)
    h.command("ack", incident_id, actor="李明")
    at(h, 40)
    h.command("answer", incident_id, actor="王工", prompt="close_inlet", answer="yes")
    at(h, 70)
    h.command("answer", incident_id, actor="李明", prompt="close_inlet", answer="yes",
              note="阀门在进水侧")
    at(h, 80)
    h.command("answer", incident_id, actor="李明", prompt="call_power", answer="yes")
    at(h, 100)
    h.command("arrive", incident_id, actor="李明", role="engineering", who="陈工")
    at(h, 120)
    h.command("close", incident_id, actor="张主管", **CLOSE)
    return incident_id


@pytest.fixture
def drill_report(engine: Engine, site: SiteConfig, playbooks: dict[str, Playbook],
                 tmp_path: Path) -> IncidentReport:
    h = Harness(engine, site)
    return stored_report(h, fire_drill(h), tmp_path / "store.sqlite3", site, playbooks)


@pytest.fixture
def false_alarm_report(engine: Engine, site: SiteConfig, playbooks: dict[str, Playbook],
                       tmp_path: Path) -> IncidentReport:
    h = Harness(engine, site)
    return stored_report(h, hostile_false_alarm(h), tmp_path / "store.sqlite3", site,
                         playbooks)


def item(report: IncidentReport, item_id: str) -> ResponseItem:
    return next(i for i in report.responses if i.item_id == item_id)


# ----------------------------------------------------------------------------- drill


def test_drill_score_counts_every_timed_item_and_the_60_s_ack_target(
        drill_report: IncidentReport) -> None:
    score = drill_report.drill_score
    assert score is not None
    scored = {i.item_id: i.outcome for i in score.items}
    assert scored == {
        "ack": ON_TIME, "verify": ON_TIME, "supervisor_on_scene": LATE, "verdict": ON_TIME,
        "notify_management": ON_TIME, "fire_equipment": ON_TIME, "call_119": ON_TIME,
        "start_pa": MISSED, "cut_gas_and_power": LATE}
    assert (score.met, score.total, score.percent) == (6, 9, 66.7)
    assert score.excluded == 1  # evacuate: due 10 min after the confirmation, closed before
    assert item(drill_report, "evacuate").outcome == NOT_DUE
    assert item(drill_report, "guide_fire_trucks").outcome == UNTIMED
    zh, en = render_markdown(drill_report, "zh"), render_markdown(drill_report, "en")
    assert "## 演练评分: 66.7%" in zh
    assert "按时 6 / 9 项，得分 66.7%" in zh
    assert "本报告以 1分00秒 为目标" in zh
    assert "6 of 9 timed items on time: 66.7%" in en
    assert "against a 1 min 00 s target" in en
    assert "演练" in render_html(drill_report, "zh").split("</h1>")[0]


def test_response_times_give_late_by_figures(drill_report: IncidentReport) -> None:
    supervisor = item(drill_report, "supervisor_on_scene")
    assert (supervisor.done_by, supervisor.late_by) == ("赵主管", 100.0)
    gas = item(drill_report, "cut_gas_and_power")
    assert (gas.outcome, gas.late_by, gas.done_by) == (LATE, 55.0, "王工")
    assert gas.detail is not None
    assert "超时升级" in gas.detail.zh
    assert "超时策略已触发" in gas.detail.zh
    pa = item(drill_report, "start_pa")
    assert pa.detail is not None
    assert "nobody answered: acted by policy" in pa.detail.en
    ack = item(drill_report, "ack")
    assert (ack.outcome, ack.seconds, ack.done_by) == (ON_TIME, 30.0, "李明")
    arrivals = [(a.role, a.who, a.on_time, a.late_by) for a in drill_report.arrivals]
    assert arrivals == [("on_duty_patrol", "张三", True, None),
                        ("duty_supervisor", "赵主管", False, 100.0)]
    zh, en = render_markdown(drill_report, "zh"), render_markdown(drill_report, "en")
    assert "| 当值主管 | 赵主管 |" in zh
    assert "超时 1分40秒" in zh
    assert "超时 55秒" in zh
    assert "late by 1 min 40 s" in en
    assert "late by 55 s" in en
    page = render_html(drill_report, "en")
    assert '<td class="late">late by 1 min 40 s</td>' in page
    assert '<td class="ok">on time</td>' in page


def test_timeline_is_in_order_with_one_human_line_per_event(
        drill_report: IncidentReport) -> None:
    lines = drill_report.timeline
    assert [e.at for e in lines] == sorted(e.at for e in lines)
    assert lines[0].kind == "incident_opened"
    assert lines[-1].kind == "closed"
    zh = [e.text.zh for e in lines]
    order = ["事件开启：火警", "确认接警，开启后 30秒", "到场：当值巡逻 张三",
             "决定：现场核实结果？ → 确认火灾", "提示「拨打 119」回答：是",
             "提示超时未答：启动消防应急广播", "超时未完成：当值主管 5 分钟内到场",
             "到场：当值主管 赵主管",
             "步骤完成：当值主管 5 分钟内到场，统一指挥现场处置，用时 6分40秒（超时）"
             "：到场：赵主管",
             "关闭事件"]
    positions = [next(i for i, text in enumerate(zh) if text.startswith(prefix))
                 for prefix in order]
    assert positions == sorted(positions)
    arrival = next(e for e in lines if e.kind == "arrival" and "赵主管" in e.text.zh)
    assert arrival.text.en.endswith("(late by 1 min 40 s)")
    assert arrival.actor == "李明"
    missed = next(e for e in lines if e.kind == "deadline_missed")
    assert missed.alert
    md = render_markdown(drill_report, "en")
    assert f"| {clock(T0 + 30)[11:]} | 李明 | acknowledged 30 s after opening |" in md


def test_actions_prompts_and_calls(drill_report: IncidentReport) -> None:
    actions = {(a.action, a.actuator): a for a in drill_report.actions}
    recall = actions[("elevator_recall", "ELV-B1-L1")]
    assert (recall.status, recall.withheld_at, recall.feedback_point) == (
        "withheld", T0 + 171, "ELV-B1-L1-RECALLED")
    pa = actions[("pa_evacuation", "PA-SITE")]
    assert (pa.prompt, pa.requested_at) == ("start_pa", T0 + 291)
    prompts = {p.prompt_id: p for p in drill_report.prompts}
    assert (prompts["call_119"].answer, prompts["call_119"].answered_by) == ("yes", "李明")
    assert prompts["start_pa"].status == "acted_on_timeout"
    call = drill_report.calls[0]
    facts = dict(call.facts)
    assert (call.phone, facts["where"].zh, facts["caller"].zh) == ("119", "1号楼12层3防区",
                                                                   "李明")
    zh = render_markdown(drill_report, "zh")
    requested = clock(T0 + 170)[11:]
    assert f"| 电梯迫降首层 | 1号楼1号电梯 (ELV-B1-L1) | {requested} | 演练拦截，未实际执行 |" in zh
    assert "报警人: 李明" in zh
    assert "最近路口: 测试路与样例街交叉口" in zh
    en = render_markdown(drill_report, "en")
    assert "Fire brigade | 119 |" in en
    assert "Nearest crossroads: corner of Test Road and Sample Street" in en


def test_records_and_review_in_both_languages_and_formats(
        drill_report: IncidentReport) -> None:
    records = {r.record_id: (r.value, r.by) for r in drill_report.records}
    assert records["cause"] == ("演练：模拟烟雾", "李明")
    assert records["injuries"] == ("无", "李明")
    review = {r.part: r.text for r in drill_report.review}
    assert review == REVIEW
    for lang in ("zh", "en"):
        for page in (render_markdown(drill_report, lang), render_html(drill_report, lang)):
            for text in REVIEW.values():
                assert text in page
            assert "演练：模拟烟雾" in page
    assert "| 报警原因（起火原因或误报原因） | 演练：模拟烟雾 | 李明 |" in render_markdown(
        drill_report, "zh")
    assert "| Cause (of the fire, or of the false alarm) | 演练：模拟烟雾 | 李明 |" in \
        render_markdown(drill_report, "en")
    assert "处理经过" in render_html(drill_report, "zh")
    assert "Improvement" in render_html(drill_report, "en")


# ----------------------------------------------------------------------------- false alarm


def test_false_alarm_opened_by_hand_with_a_late_patrol(
        false_alarm_report: IncidentReport) -> None:
    h = false_alarm_report.header
    assert (h.status, h.verdict, h.opened_by, h.closed_by, h.drill) == (
        "closed", "false_alarm", "李明", "张主管", False)
    assert false_alarm_report.drill_score is None
    verify = item(false_alarm_report, "verify")
    assert (verify.outcome, verify.late_by) == (LATE, 20.0)
    verdict = item(false_alarm_report, "verdict")
    assert (verdict.outcome, verdict.done_by) == (ON_TIME, "张三")
    zh = render_markdown(false_alarm_report, "zh")
    assert "| 结论 | 误报 |" in zh
    assert "超时 20秒" in zh
    assert "手动开启: 李明" in zh
    assert "演练评分" not in zh
    assert "Verdict | false alarm |" in render_markdown(false_alarm_report, "en")
    follow = false_alarm_report.follow_ups[0]
    assert (follow.task_id, follow.status, follow.done_by, follow.note) == (
        "resident_visit", "done", "客服小刘", "住户满意")
    assert "住户满意" in zh
    assert "回访受影响住户" in zh
    assert "Visit or call the affected residents" in render_html(false_alarm_report, "en")


def test_hostile_zone_and_note_are_shown_as_text(false_alarm_report: IncidentReport) -> None:
    assert HOSTILE_ZONE in false_alarm_report.header.location
    for lang in ("zh", "en"):
        page = render_html(false_alarm_report, lang)
        assert "<img" not in page
        assert "<script" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
        assert "src=" not in re.sub(r"&lt;img src=x", "", page)
        md = render_markdown(false_alarm_report, lang)
        assert "<img" not in md.replace("\\<img", "")
        assert "<script" not in md.replace("\\<script", "")
        assert "\\<img src=x onerror=alert(1)\\>" in md
        # a pipe and a newline in a cell neither split the row nor end it
        assert "厨房油烟 \\| 未开油烟机" in md
        assert "\\| 油烟<br>第二行" in md
        for line in md.splitlines():
            if line.startswith("|") and "油烟" in line:
                assert line.endswith("|")
    assert "1号楼12层<img src=x onerror=alert(1)>防区" in false_alarm_report.header.place.zh


def test_markdown_escape() -> None:
    assert md_escape("a|b\nc") == "a\\|b<br>c"
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert md_escape("<b>`code`</b>") == "\\<b\\>\\`code\\`\\</b\\>"


# ----------------------------------------------------------------------------- others


def test_second_confirmation_names_both_operators(engine: Engine, site: SiteConfig,
                                                  playbooks: dict[str, Playbook],
                                                  tmp_path: Path) -> None:
    h = Harness(engine, site)
    incident_id = second_confirmation(h)
    report = stored_report(h, incident_id, tmp_path / "s.sqlite3", site, playbooks)
    prompt = next(p for p in report.prompts if p.prompt_id == "close_inlet")
    assert (prompt.answered_by, prompt.confirmed_by, prompt.first_at, prompt.answered_at) == (
        "王工", "李明", T0 + 40, T0 + 70)
    close = item(report, "close_inlet")
    assert (close.outcome, close.done_by) == (ON_TIME, "王工 + 李明")
    action = next(a for a in report.actions if a.action == "close_inlet_valve")
    assert (action.actuator, action.prompt, action.requested_at) == (
        "V-WATER-PUMP-01", "close_inlet", T0 + 70)
    call = next(c for c in report.calls if c.prompt_id == "call_power")
    assert (call.phone, call.caller, dict(call.facts)["caller"].en) == ("95598", "李明", "李明")
    zh = render_markdown(report, "zh")
    assert "| 关闭水泵房进水总阀？ |" in zh
    assert "| 王工 (" in zh  # the first operator, with the time of the first yes
    assert "| 李明 |" in zh
    timeline = [e.text.zh for e in report.timeline]
    assert any("王工 回答“是”，需第二人确认" in t for t in timeline)
    assert any("第二确认人，第一人 王工" in t for t in timeline)
    en = render_html(report, "en")
    assert "Second operator" in en
    assert "Power bureau" in en


def test_a_storm_of_device_signals_is_one_timeline_line(engine: Engine, site: SiteConfig,
                                                        playbooks: dict[str, Playbook],
                                                        tmp_path: Path) -> None:
    h = Harness(engine, site)
    for floor in range(1, 11):
        for zone in range(1, 5):
            h.signal(f"B1-F{floor}-Z{zone}", device="SD-01")
    incident_id = h.only().id
    report = stored_report(h, incident_id, tmp_path / "s.sqlite3", site, playbooks)
    storms = [e for e in report.timeline if e.kind == "signals"]
    assert len(storms) == 1
    assert storms[0].text.zh.startswith("设备信号 39 条")
    assert "39 devices, 39 new" in storms[0].text.en
    assert "and 34 more" in storms[0].text.en
    assert not [e for e in report.timeline if e.kind == "signal"]
    assert len(report.timeline) < 15
    assert len(report.devices) == 30
    assert "另有 10 个设备未列出" in render_markdown(report, "zh")


def test_without_playbook_or_site_ids_stand_in(engine: Engine, site: SiteConfig) -> None:
    h = Harness(engine, site)
    incident_id = fire_drill(h)
    incident = latest(h, incident_id)
    events = [e for o in h.log for e in o.events if e.incident_id == incident_id]
    from_events = build_report(incident, events, None, None)
    assert from_events.header.playbook_name.zh == "火警"  # the events carry the names
    assert "no longer loaded" in render_markdown(from_events, "en")
    bare = build_report(incident, [], None, None)
    assert bare.header.playbook_name.en == "fire"
    assert item(bare, "verify").label.en == "verify"
    assert bare.drill_score is not None
    assert bare.drill_score.percent == 66.7  # the score needs the snapshot only
    assert "supervisor_on_scene" in render_html(bare, "en")


def test_an_unknown_language_is_refused(drill_report: IncidentReport) -> None:
    with pytest.raises(ValueError, match="zh or en"):
        render_markdown(drill_report, "fr")


# ----------------------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    """As ``alarm-gateway`` would run the subcommands (exit codes of ``cli.main``)."""
    parser = argparse.ArgumentParser(prog="alarm-gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", default=str(CONFIG))
        p.add_argument("--store")

    add_parsers(sub, config_arg)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except GatewayError as exc:
        return exc.exit_code
    return code


def test_report_command_end_to_end(engine: Engine, site: SiteConfig, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    h = Harness(engine, site)
    incident_id = fire_drill(h)
    path = tmp_path / "store.sqlite3"
    persist(h, path)
    assert run_cli(["report", incident_id, "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# 事件报告 {incident_id} · 火警")
    assert "66.7%" in out
    target = tmp_path / "report.html"
    assert run_cli(["report", incident_id, "--store", str(path), "--format", "html",
                    "--lang", "en", "-o", str(target)]) == 0
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert f"Incident report {incident_id}" in page
    assert "<script" not in page
    assert str(target) in capsys.readouterr().out
    assert run_cli(["report", "INC-999999", "--store", str(path)]) == 7
    assert run_cli(["report", incident_id, "--store", str(tmp_path / "none.sqlite3")]) == 8
    assert run_cli(["report", incident_id, "--store", str(path), "-o",
                    str(tmp_path / "no" / "such" / "dir.md")]) == 1


def test_report_command_names_the_users_as_they_go_by(engine: Engine, site: SiteConfig,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    h = Harness(engine, site)
    incident_id = worked_fire(h)
    path = tmp_path / "store.sqlite3"
    persist(h, path)
    with open_records(path) as records:
        for name, display in PEOPLE.items():
            records.add_user(UserRow(name, display, ("supervisor",)), h.now)
    assert run_cli(["report", incident_id, "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "li.ming" not in out
    assert "zhang.zg" not in out
    assert "值班主管 / Duty supervisor　姓名：张主管" in out
    assert "李明 于开启后 30秒 确认接警" in out


def test_report_command_reads_beside_a_writer(engine: Engine, site: SiteConfig,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    h = Harness(engine, site)
    incident_id = second_confirmation(h)
    path = tmp_path / "store.sqlite3"
    persist(h, path)
    writer = connect(path)  # the daemon, in the middle of a batch
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO meta VALUES ('busy', '1')")
        assert run_cli(["report", incident_id, "--store", str(path), "--lang", "en"]) == 0
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    assert "Pump room flooding" in capsys.readouterr().out


def test_report_command_without_a_usable_config_shows_ids(engine: Engine, site: SiteConfig,
                                                          tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    h = Harness(engine, site)
    incident_id = second_confirmation(h)
    path = tmp_path / "store.sqlite3"
    persist(h, path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: [", encoding="utf-8")
    assert run_cli(["report", incident_id, "-c", str(broken), "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "水泵房进水" in out  # from the events
    assert "预案已不再加载" in out


def test_store_is_left_unchanged_by_reports(engine: Engine, site: SiteConfig,
                                           tmp_path: Path) -> None:
    h = Harness(engine, site)
    incident_id = second_confirmation(h)
    path = tmp_path / "store.sqlite3"
    persist(h, path)
    before = path.read_bytes()
    assert run_cli(["report", incident_id, "--store", str(path), "-o",
                    str(tmp_path / "r.md")]) == 0
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0] == 1
    finally:
        conn.close()
    assert path.read_bytes() == before


def test_a_live_incident_shows_what_is_pending_missed_and_missing(engine: Engine,
                                                                  site: SiteConfig,
                                                                  playbooks: dict[str, Playbook]
                                                                  ) -> None:
    h = Harness(engine, site)
    h.signal("B2-F3-Z1", device="SD-01")
    incident_id = h.only().id
    events = [e for o in h.log for e in o.events]
    early = build_report(h.only(), events, playbooks["fire"], site, now=T0 + 50)
    assert item(early, "ack").outcome == "pending"
    assert item(early, "verify").outcome == "pending"
    assert early.drill_score is None
    missing = [r.record_id for r in early.records if r.at is None]
    assert missing == ["cause", "injuries"]
    assert "| 报警原因（起火原因或误报原因） | 缺少（必填） |" in render_markdown(early, "zh")
    # the daemon was down: nothing marked the deadlines, the report still sees them passed
    late = build_report(h.only(), events, playbooks["fire"], site, now=T0 + 400)
    assert {i.item_id: i.outcome for i in late.responses} == {
        "ack": MISSED, "verify": MISSED, "supervisor_on_scene": MISSED, "verdict": MISSED}
    assert late.header.status == "open"
    assert incident_id in render_html(late, "en")


# ----------------------------------------------------------------------------- the first page

# the console's users who worked the fire below, by login name
PEOPLE = {"li.ming": "李明", "zhang.zg": "张主管"}
# a snake_case id (step, prompt, branch, role, action, zone) that no reader should meet
RAW_ID = re.compile(r"\b[a-z]+_[a-z_]+\b")


def worked_fire(h: Harness) -> str:
    """A real fire worked by console users (login names): the patrol on scene, a call point
    confirms it, one elevator confirms its recall and the other never does, the PA is asked for
    and never sent, the gas prompt is left unanswered; resolved, then closed with a reason."""
    h.signal("B1-F12-Z3", device="SD-01")
    incident_id = h.only().id
    at(h, 30)
    h.command("ack", incident_id, actor="li.ming")
    at(h, 120)
    h.command("arrive", incident_id, actor="li.ming", role="on_duty_patrol", who="赵保安")
    at(h, 130)
    h.signal("B1-F12-MCP3")
    at(h, 131)
    h.command("ack", incident_id, actor="li.ming")
    recall = {a.actuator_id: a.id for a in h.only().actions}
    h.run(h.engine.on_action_result(h.state, incident_id, recall["ELV-B1-L1"],
                                    ActionStatus.DONE, "", h.now))
    h.run(h.engine.on_action_result(h.state, incident_id, recall["ELV-B1-L2"],
                                    ActionStatus.SENT, "", h.now))
    at(h, 150)
    h.command("answer", incident_id, actor="li.ming", prompt="call_119", answer="yes")
    at(h, 160)
    h.command("answer", incident_id, actor="li.ming", prompt="start_pa", answer="yes")
    at(h, 170)
    h.command("record", incident_id, actor="li.ming", field="cause", value="厨房油锅起火")
    h.command("record", incident_id, actor="li.ming", field="injuries", value="无")
    h.command("record", incident_id, actor="li.ming", field="brigade_arrived_at", value="now")
    h.command("record", incident_id, actor="li.ming", field="fire_out_at", value="now")
    tick_at(h, 320)  # elevator 2 never confirmed: failed; deadlines passed
    at(h, 400)
    h.command("resolve", incident_id, actor="zhang.zg")
    at(h, 500)
    h.command("close", incident_id, actor="zhang.zg", **CLOSE)
    return incident_id


@pytest.fixture
def fire_report(engine: Engine, site: SiteConfig, playbooks: dict[str, Playbook],
                tmp_path: Path) -> IncidentReport:
    h = Harness(engine, site)
    return stored_report(h, worked_fire(h), tmp_path / "store.sqlite3", site, playbooks,
                         people=PEOPLE)


def section(md: str, title: str) -> str:
    """One section of a Markdown report, from its heading to the next."""
    start = md.index(f"## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:] if end < 0 else md[start:end]


def summary_html(page: str) -> str:
    return page[page.index('<section class="summary">'):page.index("</section>")]


def page_text(page: str) -> str:
    """What an HTML page shows: its text, without the style and the tags."""
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_the_header_names_the_project_and_its_address_in_both_languages(
        fire_report: IncidentReport) -> None:
    zh, en = render_markdown(fire_report, "zh"), render_markdown(fire_report, "en")
    incident_id = fire_report.header.incident_id
    assert zh.startswith(f"# 事件报告 {incident_id} · 火警\n\n**项目**：测试小区 · Test estate  \n"
                         "**地址**：测试路 1 号 · 1 Test Road  \n")
    assert en.startswith(f"# Incident report {incident_id} · Fire\n\n"
                         "**Project**: Test estate · 测试小区  \n"
                         "**Address**: 1 Test Road · 测试路 1 号  \n")
    facts = section(zh, "关键信息")
    assert f"| 事件编号 | {incident_id} |" in facts
    assert "| 类型 | 火警 |" in facts
    assert "| 位置 | 1号楼12层3防区 |" in facts
    top = summary_html(render_html(fire_report, "zh")).split("<h2>")[0]
    assert '<span class="k">项目</span>测试小区<span class="aside">Test estate</span>' in top
    assert '<span class="k">地址</span>测试路 1 号<span class="aside">1 Test Road</span>' in top
    top = summary_html(render_html(fire_report, "en")).split("<h2>")[0]
    assert '<span class="k">Project</span>Test estate<span class="aside">测试小区</span>' in top


def test_the_summary_comes_first_and_the_details_after(fire_report: IncidentReport) -> None:
    for lang, order in (("zh", ["摘要", "关键信息", "遗留与异常", "签字", "时间线", "响应时间",
                                "到场", "联动", "提示与确认", "记录", "复盘", "回访任务"]),
                        ("en", ["Summary", "Key facts", "Gaps", "Sign-off", "Timeline",
                                "Response times", "Actions", "Review"])):
        md = render_markdown(fire_report, lang)
        positions = [md.index(f"## {title}\n") for title in order]
        assert positions == sorted(positions)
        assert md.index("\n---\n") < md.index("## 时间线" if lang == "zh" else "## Timeline")
    summary = section(render_markdown(fire_report, "zh"), "摘要")
    for said in ("设备 1号楼12层3防区感烟探测器（B1-F12-Z3/SD-01）报警，开启火警事件",
                 "报警位置：1号楼12层3防区（共 2 个设备报警）",
                 "李明 于开启后 30秒 确认接警（按时）", "到场：当值巡逻 赵保安（开启后 2分00秒）",
                 "核实结论：真实警情（确认火灾，设备自动判定）",
                 "电梯迫降首层（1号楼1号电梯 已确认到位；1号楼2号电梯 失败）",
                 "播放疏散广播（应急广播 未发出）", "外部电话：火警 119 已拨打（李明）",
                 "由 张主管 确认处置完毕（开启后 6分40秒）", "由 张主管 关闭"):
        assert said in summary
    summary = section(render_markdown(fire_report, "en"), "Summary")
    assert "李明 acknowledged it 30 s after it opened (on time)" in summary
    assert "Building 1 elevator 2 failed" in summary


def test_the_gaps_box_names_what_a_close_with_a_reason_left_undone(
        fire_report: IncidentReport) -> None:
    gaps = section(render_markdown(fire_report, "zh"), "遗留与异常")
    for row in ("| 未完成步骤 | 当值主管 5 分钟内到场，统一指挥现场处置（当值主管） | 超时未完成 |",
                "| 未完成步骤 | 组织疏散（当值巡逻） | 未完成（期限前已处置完毕或关闭） |",
                "| 未答复提示 | 工程部已关闭燃气总阀并切断着火区域非消防电源、启用应急电源 | "
                "超时未完成，超时升级 |",
                "| 未确认联动 | 电梯迫降首层 · 1号楼2号电梯 | 失败 |",
                "| 未确认联动 | 播放疏散广播 · 应急广播 | 未发出 |",
                f"| 遗留原因 | {AS_IT_STANDS} | 关闭时说明（张主管，{clock(T0 + 500)}） |"):
        assert row in gaps
    for raw in ("supervisor_on_scene", "evacuate", "cut_gas_and_power", "elevator_recall",
                "pa_evacuation", "ELV-B1-L2", "open_steps"):
        assert raw not in gaps
    en = section(render_markdown(fire_report, "en"), "Gaps")
    assert "| Actions not confirmed | Play the evacuation announcement · PA system | never sent |" \
        in en
    page = summary_html(render_html(fire_report, "zh"))
    assert '<div class="gaps">' in page
    assert "<td>组织疏散（当值巡逻）</td>" in page


def test_an_incident_with_nothing_left_undone_says_so(engine: Engine, site: SiteConfig,
                                                      playbooks: dict[str, Playbook],
                                                      tmp_path: Path) -> None:
    h = Harness(engine, site)
    h.command("open", "", actor="李明", playbook="pump_room_flood", building="1", floor="B2")
    incident_id = h.only().id
    at(h, 20)
    h.command("ack", incident_id, actor="李明")
    at(h, 40)
    h.command("answer", incident_id, actor="王工", prompt="close_inlet", answer="yes")
    at(h, 70)
    h.command("answer", incident_id, actor="李明", prompt="close_inlet", answer="yes")
    valve = h.only().actions[0]
    h.run(h.engine.on_action_result(h.state, incident_id, valve.id, ActionStatus.DONE, "",
                                    h.now))
    at(h, 80)
    h.command("answer", incident_id, actor="李明", prompt="call_power", answer="yes")
    at(h, 100)
    h.command("arrive", incident_id, actor="李明", role="engineering", who="陈工")
    at(h, 120)
    h.command("close", incident_id, actor="张主管", **REVIEW)  # no reason: nothing is left
    report = stored_report(h, incident_id, tmp_path / "s.sqlite3", site, playbooks)
    assert report.gaps == ()
    gaps = section(render_markdown(report, "zh"), "遗留与异常")
    assert "无遗留事项：步骤、决定、提示与联动均已完成，没有超时。" in gaps
    assert "|" not in gaps
    assert '<div class="gaps clear">' in render_html(report, "en")


def test_sign_off_lines_for_the_duty_supervisor_and_the_project_manager(
        fire_report: IncidentReport) -> None:
    sign = section(render_markdown(fire_report, "zh"), "签字")
    assert "\n值班主管 / Duty supervisor　姓名：张主管　签字：__________　日期：__________\n" \
        in sign
    assert "\n项目经理 / Project manager　姓名：__________　签字：__________　日期：__________\n" \
        in sign
    en = section(render_markdown(fire_report, "en"), "Sign-off")
    assert "Duty supervisor / 值班主管   Name: 张主管   Signature: __________" in en
    page = summary_html(render_html(fire_report, "zh"))
    assert page.count('<div class="sign-line">') == 2
    assert '姓名：<span class="blank">张主管</span>' in page
    assert page.index('<div class="sign-off">') > page.index('<div class="gaps">')


def test_people_are_named_as_they_go_by(engine: Engine, site: SiteConfig,
                                        playbooks: dict[str, Playbook],
                                        tmp_path: Path) -> None:
    h = Harness(engine, site)
    incident_id = worked_fire(h)
    logins = stored_report(h, incident_id, tmp_path / "a.sqlite3", site, playbooks)
    assert item(logins, "ack").done_by == "li.ming"
    named = stored_report(h, incident_id, tmp_path / "b.sqlite3", site, playbooks,
                          people=PEOPLE)
    h_ = named.header
    assert (h_.acknowledged_by, h_.resolved_by, h_.closed_by) == ("李明", "张主管", "张主管")
    assert item(named, "ack").done_by == "李明"
    assert item(named, "call_119").done_by == "李明"
    assert [(a.who, a.recorded_by) for a in named.arrivals] == [("赵保安", "李明")]
    assert {r.by for r in named.records} == {"李明"}
    assert named.calls[0].caller == "李明"
    assert named.sign_off[0].name == "张主管"
    zh = render_markdown(named, "zh")
    assert f"| {clock(T0 + 30)[11:]} | 李明 | 确认接警，开启后 30秒 |" in zh
    for page in (zh, render_markdown(named, "en"), render_html(named, "zh")):
        assert "li.ming" not in page
        assert "zhang.zg" not in page


def test_each_auto_action_shows_how_it_ended(fire_report: IncidentReport,
                                             drill_report: IncidentReport) -> None:
    zh = section(render_markdown(fire_report, "zh"), "联动")
    day = clock(T0)[:10]
    assert f"| 电梯迫降首层 | 1号楼1号电梯 (ELV-B1-L1) | {clock(T0 + 130)[11:]} | 已确认到位 |" \
        in zh
    assert "反馈点 1号楼1号电梯迫降到位（ELV-B1-L1-RECALLED）" in zh
    assert "| 电梯迫降首层 | 1号楼2号电梯 (ELV-B1-L2) |" in zh
    assert "| 失败 |" in zh
    assert "90 秒内未收到 1号楼2号电梯迫降到位（ELV-B1-L2-RECALLED）的确认" in zh
    assert "| 播放疏散广播 | 应急广播 (PA-SITE) |" in zh
    assert "| 未发出 |" in zh
    assert day not in zh  # times of the incident's own day
    en = section(render_markdown(fire_report, "en"), "Actions")
    for said in ("confirmed by the device", "| failed |", "| never sent |"):
        assert said in en
    assert "| 演练拦截，未实际执行 |" in section(render_markdown(drill_report, "zh"), "联动")
    assert "withheld in the drill, not carried out" in render_markdown(drill_report, "en")
    sent = ActionItem("elevator_recall", Text("", ""), "ELV-B1-L2", Text("", ""), "recall",
                      "sent", T0, feedback_point="ELV-B1-L2-RECALLED")
    assert (ending(sent, live=True), ending(sent, live=False)) == ("waiting", "unconfirmed")


def test_a_worked_fire_report_in_chinese_shows_no_raw_ids(fire_report: IncidentReport,
                                                          playbooks: dict[str, Playbook],
                                                          site: SiteConfig) -> None:
    fire = playbooks["fire"]
    ids = {*site.roles, "recall", "fire_evacuation", "resident_visit"}
    for stage in fire.stages:
        ids |= {stage.id, *(s.id for s in stage.steps), *(p.id for p in stage.prompts),
                *(a.id for a in stage.actions), *(r.id for r in stage.records),
                *(a.id for p in stage.prompts for a in p.actions)}
        if stage.branch is not None:
            ids |= {stage.branch.id, *(o.id for o in stage.branch.options)}
    zh_md = render_markdown(fire_report, "zh")
    zh_html = page_text(render_html(fire_report, "zh"))
    for text in (zh_md, zh_html):
        assert RAW_ID.findall(text) == []
        assert not re.search(r"\\?\[recall\\?\]", text)
        shown = [i for i in sorted(ids) if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text)]
        assert shown == []
    # the timeline says the failed recall's escalation by the action's names
    assert "升级至 当值主管：联动失败（联动 电梯迫降首层 · 1号楼2号电梯）" in zh_md


def test_a_named_zone_reads_by_its_name(engine: Engine, site: SiteConfig,
                                        playbooks: dict[str, Playbook], tmp_path: Path) -> None:
    h = Harness(engine, site)
    h.signal("W-PUMP-01")
    report = stored_report(h, h.only().id, tmp_path / "s.sqlite3", site, playbooks)
    zh = render_markdown(report, "zh")
    assert "pump_room" not in zh
    assert "| 位置 | 1号楼B2层水泵房 |" in zh
    assert "位置 1号楼B2层水泵房" in section(zh, "时间线")
    assert "| 水泵房漏水（W-PUMP-01） | 漏水感应器 | 1号楼B2层水泵房 |" in zh


def test_the_html_prints_the_summary_on_its_own_a4_page(fire_report: IncidentReport) -> None:
    page = render_html(fire_report, "zh")
    style = page[page.index("<style>"):page.index("</style>")]
    assert "@page { size: A4; margin: 15mm }" in style
    assert re.search(r"section\.summary\{[^}]*break-after:page", style)
    body = page[page.index("<body>"):]
    summary = summary_html(body)
    for heading in ("摘要", "关键信息", "遗留与异常", "签字"):
        assert f"<h2>{heading}</h2>" in summary
    assert body.index("</section>") < body.index("<h2>时间线</h2>")
    assert body.index("</h1>") < body.index('<section class="summary">')
