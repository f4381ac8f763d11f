"""``for_each`` computing texts and addresses from its names, and running lists in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.for_each import ForEachError, combinations, substitute
from gateway.errors import ConfigSchemaError
from tests.core.test_config import HEAD, config_error, line_of, load, only_problem, write

MODBUS = """\
modbus:
  - {id: gas, host: 127.0.0.1, port: 15020}
zones:
  plant: {zh: 设备间, en: plant room}
"""


def gas_points(address: str, *, for_each: str = '{ch: "1..4"}', point_id: str = "GAS-{ch:02d}",
               unit: str = "1") -> str:
    return f"""\
        points:
          - id: "{point_id}"
            for_each: {for_each}
            kind: gas_detector
            location: {{zone: plant}}
            modbus: {{connection: gas, unit: "{unit}", address: "{address}",
                      thresholds: [{{at_least: 50, state: alarm}}]}}
        """


def test_an_address_is_computed_from_the_loop_variable(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, MODBUS, gas_points("{100 + (ch - 1) * 4}"))

    points = load(path).points

    assert list(points) == ["GAS-01", "GAS-02", "GAS-03", "GAS-04"]
    assert [p.modbus.address for p in points.values()] == [100, 104, 108, 112]


def test_floor_division_and_remainder_spread_channels_over_units(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, MODBUS, gas_points(
        "{(ch - 1) % 16 * 2}", for_each='{ch: "15..18"}', unit="{(ch - 1) // 16 + 1}"))

    points = load(path).points

    assert [(p.modbus.unit, p.modbus.address) for p in points.values()] == [
        (1, 28), (1, 30), (2, 0), (2, 2)]


def test_an_expression_inside_a_text_is_filled_in_place() -> None:
    entry = {"name": {"zh": "{b}号楼{f * 100 + r}室", "en": "room {f * 100 + r:04d}"}}

    assert substitute(entry, {"b": "2", "f": "12", "r": "3"}) == {
        "name": {"zh": "2号楼1203室", "en": "room 1203"}}


def test_a_name_keeps_its_written_text_unless_it_is_formatted() -> None:
    assert substitute("P{n}-{n:d}-{n:03d}-{-n}", {"n": "08"}) == "P08-8-008--8"


def test_braces_that_are_no_expression_are_left_alone() -> None:
    text = '{"cmd": "recall"} {other} {} {0:x'

    assert substitute(text, {"ch": "1"}) == text


def test_zip_runs_its_lists_in_step(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "W-{room}"
            for_each: {zip: {ch: "1..3", room: [pump, garage, boiler]}}
            kind: water_leak
            location: {zone: "{room}"}
            mqtt: {topic: "t/ch{ch}", decoder: zigbee2mqtt, property: water_leak}
        zones:
          pump: {zh: 水泵房, en: pump room}
          garage: {zh: 车库, en: garage}
          boiler: {zh: 锅炉房, en: boiler room}
        """)

    points = load(path).points

    assert [(p.id, p.mqtt.topic) for p in points.values()] == [
        ("W-pump", "t/ch1"), ("W-garage", "t/ch2"), ("W-boiler", "t/ch3")]


def test_zip_is_one_name_among_the_combinations() -> None:
    combos = combinations({"b": "1..2", "zip": {"ch": "1..2", "room": ["a", "b"]}})

    assert combos == [{"b": "1", "ch": "1", "room": "a"}, {"b": "1", "ch": "2", "room": "b"},
                      {"b": "2", "ch": "1", "room": "a"}, {"b": "2", "ch": "2", "room": "b"}]


def test_zip_of_lists_of_different_lengths_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "W-{room}"
            for_each:
              zip: {ch: "1..32", room: [pump, garage]}
            kind: water_leak
            mqtt: {topic: "t/ch{ch}", decoder: zigbee2mqtt, property: water_leak}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].for_each.zip"
    assert problem.line == line_of(path, "zip:")
    assert "ch has 32, room has 2" in problem.message


def test_a_name_given_in_zip_and_beside_it_is_refused() -> None:
    with pytest.raises(ForEachError, match="'ch' is given twice"):
        combinations({"ch": "1..2", "zip": {"ch": "1..2", "room": ["a", "b"]}})


@pytest.mark.parametrize(("address", "message"), [
    ("{100 + chan}", "unknown name 'chan' (for_each names: ch)"),
    ("{100 // (ch - 1)}", "division by zero (with ch=1)"),
    ("{100 + }", "not an expression"),
    ("{ch / 2}", "divide whole numbers with //"),
    ("{ch ** 2}", "only whole numbers"),
    ("{abs(ch)}", "only whole numbers"),
    ("{ch + 0.5}", "only whole numbers"),
    ("{ch.real}", "only whole numbers"),
])
def test_a_bad_expression_names_the_file_line_and_field(tmp_path: Path, address: str,
                                                        message: str) -> None:
    path = write(tmp_path, HEAD, MODBUS, gas_points(address))

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.file == str(path)
    assert problem.path == "points[0].modbus.address"
    assert problem.line == line_of(path, "modbus: {connection")
    assert message in problem.message
    assert address in problem.message


def test_arithmetic_on_a_name_that_is_no_number_is_refused() -> None:
    with pytest.raises(ForEachError, match="room is 'pump' here, not a whole number") as info:
        substitute({"modbus": {"address": "{room + 1}"}}, {"room": "pump"})

    assert info.value.at == ("modbus", "address")


def test_a_number_format_on_a_word_is_refused() -> None:
    with pytest.raises(ForEachError, match="'02d' is not a format for 'pump'"):
        substitute("W-{room:02d}", {"room": "pump"})


def test_a_computed_address_out_of_range_is_a_schema_error_of_its_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, MODBUS, gas_points("{ch - 2}"))

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].modbus.address"
    assert "greater than or equal to 0" in problem.message


def test_a_format_is_only_alignment_width_and_a_number_kind() -> None:
    assert substitute("{ch:x}-{ch:>3}-{room:<6}|", {"ch": "26", "room": "pump"}) == \
        "1a- 26-pump  |"
    with pytest.raises(ForEachError, match="'>999999999' is not a format"):
        substitute("{ch:>999999999}", {"ch": "1"})
