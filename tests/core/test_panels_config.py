"""Panels behind a GB/T 26875.3 receiver in the site config: the listener, the panels, their
components from a CSV table or from points bound by hand, and what a technician is told when
a line is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.config.site import load_config
from gateway.errors import ConfigError, ConfigReferenceError, ConfigSchemaError
from simulators.sites import panel_demo


def site(tmp_path: Path, edit: object = None, table: str | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = panel_demo(tmp_path, 15030)
    if table is not None:
        (tmp_path / "b2-facp.csv").write_text(table, encoding="utf-8")
    if edit is not None:
        data = yaml.safe_load(config.read_text())
        edit(data)  # type: ignore[operator]
        config.write_text(yaml.safe_dump(data, allow_unicode=True))
    return config


def problems(tmp_path: Path, kind: type[ConfigError], **kw: object) -> str:
    with pytest.raises(kind) as caught:
        load_config(site(tmp_path, **kw), environ={})  # type: ignore[arg-type]
    return str(caught.value)


def test_the_panel_its_own_points_and_its_table(tmp_path: Path) -> None:
    s = load_config(site(tmp_path), environ={})
    panel = s.panels["B2-FACP"]
    assert (panel.receiver, panel.device, panel.system_type, panel.system) == (
        "fire-center", 889, 1, 1)
    assert s.receivers["fire-center"].center_address == 88888
    point = s.points["B2-FACP-2-007"]
    assert (point.kind, point.location.building, point.location.floor) == (
        "manual_call_point", "2", "7")
    assert point.panel is not None
    assert (point.panel.zone, point.panel.point, point.group) == (2, 7, "B2-FACP")
    assert point.source == "panel:B2-FACP/2-007"
    assert {"B2-FACP", "B2-FACP-UNMAPPED", "B2-FACP-UNMAPPED-GAS"} <= set(s.points)
    assert s.points["B2-FACP-UNMAPPED-GAS"].kind == "gas_detector"


def test_points_bound_to_components_by_hand_with_for_each(tmp_path: Path) -> None:
    def add(data: dict[str, object]) -> None:
        data["points"].append({  # type: ignore[attr-defined]
            "id": "B2-L3-{p}", "for_each": {"p": "1..5"}, "kind": "heat_detector",
            "location": {"building": "2", "floor": "B1"},
            "panel": {"id": "B2-FACP", "zone": 3, "point": "{p}"}})
    s = load_config(site(tmp_path, edit=add), environ={})
    assert s.points["B2-L3-4"].panel is not None
    assert (s.points["B2-L3-4"].panel.zone, s.points["B2-L3-4"].panel.point) == (3, 4)


def test_a_bad_table_line_names_the_file_line_and_what_is_wrong(tmp_path: Path) -> None:
    text = problems(tmp_path, ConfigReferenceError, table=(
        "address,kind,building,floor,zone,unit,name\n1-001,smoke_detector,2,1,,,ok\n"
        "1x2,smoke_detector,2,1,,,bad address\n1-003,smoke_alarm,2,1,,,bad kind\n"))
    assert "b2-facp.csv line 3: address '1x2' is not zone-point" in text
    assert "b2-facp.csv line 4: kind 'smoke_alarm' is not one of" in text


def test_an_unknown_receiver_or_panel_is_named(tmp_path: Path) -> None:
    def wrong(data: dict[str, object]) -> None:
        data["panels"][0]["receiver"] = "fire-centre"  # type: ignore[index]
        data["points"].append({"id": "X", "kind": "smoke_detector",  # type: ignore[attr-defined]
                               "panel": {"id": "B3-FACP", "zone": 1, "point": 1}})
    text = problems(tmp_path, ConfigReferenceError, edit=wrong)
    assert "unknown receiver 'fire-centre' (known: fire-center)" in text
    assert "unknown panel 'B3-FACP' (known: B2-FACP)" in text


def test_a_point_with_two_bindings_or_a_missing_table_is_refused(tmp_path: Path) -> None:
    def two(data: dict[str, object]) -> None:
        data["points"].append({"id": "X", "kind": "smoke_detector",  # type: ignore[attr-defined]
                               "mqtt": {"topic": "demo/x", "values": {"fire": "alarm"}},
                               "panel": {"id": "B2-FACP", "zone": 1, "point": 1}})
    assert "exactly one" in problems(tmp_path / "a", ConfigSchemaError, edit=two)
    config = site(tmp_path / "b")
    (tmp_path / "b" / "b2-facp.csv").unlink()
    with pytest.raises(ConfigReferenceError, match="cannot read the component table"):
        load_config(config, environ={})


def test_a_contact_id_topic_needs_its_panel_point_and_one_point_a_zone(tmp_path: Path) -> None:
    def zones_only(data: dict[str, object]) -> None:
        for zone in (1, 1):
            data["points"].append({  # type: ignore[attr-defined]
                "id": f"CP-Z{zone}-{len(data['points'])}", "kind": "smoke_detector",  # type: ignore[arg-type]
                "mqtt": {"topic": "demo/cp/cid", "decoder": "contact_id", "account": "1234",
                         "zone": zone}})
    text = problems(tmp_path, ConfigReferenceError, edit=zones_only)
    assert "are both zone 1 of account 1234 on topic 'demo/cp/cid'" in text
    assert "account 1234 has no panel point" in text


def test_dc09_accounts_keys_and_codes_are_checked(tmp_path: Path) -> None:
    from simulators.sites import dc09_demo

    config = dc09_demo(tmp_path, 15040, key="0011")
    with pytest.raises(ConfigReferenceError, match="an AES key is 16, 24 or 32 bytes"):
        load_config(config, environ={})
    data = yaml.safe_load(config.read_text())
    account = data["receivers"]["dc09"][0]["accounts"][0]
    account["key"] = "000102030405060708090A0B0C0D0E0F"
    account["codes"] = {150: "flood"}
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigSchemaError, match="code 150: 'flood' is not one of alarm"):
        load_config(config, environ={})
    account["codes"] = {150: "alarm", 381: "trouble:sensor_fault"}
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    receiver = load_config(config, environ={}).dc09_receivers["alarm-receiver"]
    assert receiver.keys["5678"] == bytes(range(16))
    assert receiver.codes["5678"] == {150: ("alarm", ""), 381: ("trouble", "sensor_fault")}
