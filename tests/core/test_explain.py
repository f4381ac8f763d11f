"""Explaining a reading before going live, and the walk test's record."""

from __future__ import annotations

import re
import struct

import pytest

from gateway.config.site import SiteConfig, load_config
from gateway.domain.model import PointState
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.present.explain import explain_modbus, explain_mqtt, render
from gateway.present.walk_record import walk_record
from tests.support.processes import ROOT

AT = 1_800_000_000.0


@pytest.fixture(scope="module")
def demo() -> tuple[SiteConfig, dict[str, Playbook]]:
    site = load_config(ROOT / "config" / "site.yaml", environ={})
    return site, load_playbooks(site.playbook_dir, site)


def test_a_detectors_message_is_explained_down_to_the_first_steps(
        demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    site, playbooks = demo
    (found,) = explain_mqtt(site, playbooks, "demo/fire/b1/f12/z3",
                            b'{"state": "fire", "device": "SD-01"}')
    assert (found.point_id, found.state, found.decided_by) == (
        "B1-F12-Z3", PointState.ALARM, "values")
    assert found.playbooks == ("fire",)
    assert any("3 分钟内到场" in s.zh for s in found.steps)
    text = render([found], playbooks)
    assert "预案 playbook: 火警 / Fire (fire)" in text
    assert "state:    报警 / alarm  (by values)" in text
    (normal,) = explain_mqtt(site, playbooks, "demo/fire/b1/f12/z3", b'{"state": "normal"}')
    assert (normal.state, normal.playbooks) == (PointState.NORMAL, ())
    assert "opens no incident" in render([normal], playbooks)


def test_what_the_gateway_would_refuse_is_said_with_its_reason(
        demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    site, playbooks = demo
    (bad,) = explain_mqtt(site, playbooks, "demo/fire/b1/f12/z3", b'{"state": "smoke?"}')
    assert bad.error.startswith("unmapped_value")
    assert "dead-lettered" in render([bad], playbooks)
    assert explain_mqtt(site, playbooks, "nobody/listens", b"{}") == []
    assert render([], playbooks).startswith("没有点位绑定到此输入")


def test_modbus_register_values_are_explained_with_thresholds(
        demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    site, playbooks = demo
    hi, lo = struct.unpack(">HH", struct.pack(">f", 60.0))  # 60 %LEL, low word first
    found = explain_modbus(site, playbooks, "gas-controller", 1, "holding", 2, [lo, hi])
    (gas,) = [e for e in found if e.point_id == "G-B1-01"]
    assert (gas.value, gas.state, gas.decided_by) == (60.0, PointState.ALARM, "thresholds")
    assert gas.playbooks == ("gas_leak",)
    assert explain_modbus(site, playbooks, "gas-controller", 9, "holding", 2, [0, 0]) == []


def test_the_walk_record_lists_every_point_of_its_scope_the_silent_first(
        demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    site, _ = demo
    heard = [("B2-F3-Z2", AT + 60, AT + 65, 2, "alarm,normal")]
    page = walk_record(site, heard, AT, AT + 600, "zh", building="2", by="李工", fmt="md")
    in_building = [p for p in site.points.values() if p.location.building == "2"]
    assert f"1 / {len(in_building)} 个点位在走测期间上报" in page
    rows = [line for line in page.splitlines() if re.match(r"\| [A-Z]", line)]
    assert "已上报" in rows[-1]
    assert "B2-F3-Z2" in rows[-1]
    assert "报警、恢复正常" in rows[-1]
    assert all("未上报" in row for row in rows[:-1])
    assert "测试技术员" in page
    assert "李工" in page
    html = walk_record(site, heard, AT, AT + 600, "en", fmt="html")
    assert "Walk-test record" in html
    assert "<script" not in html


def test_explain_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.main import main

    config = str(ROOT / "config" / "site.yaml")
    assert main(["explain", "-c", config, "--topic", "zigbee2mqtt/b1/pump_room/leak_1",
                 "--payload", '{"water_leak": true}']) == 0
    out = capsys.readouterr().out
    assert "W-PUMP-01" in out
    assert "预案 playbook: 漏水" in out
    assert main(["explain", "-c", config, "--modbus", "gas-controller/1", "--address", "2",
                 "--values", "0,0x4270"]) == 0  # 60.0 as a float, low word first
    assert "by thresholds" in capsys.readouterr().out
    assert main(["explain", "-c", config, "--topic", "nobody/listens", "--payload", "x"]) == 1
    assert main(["explain", "-c", config, "--modbus", "gas-controller/1", "--address", "2",
                 "--values", "zero"]) == 1
    assert "write register values as numbers" in capsys.readouterr().err
