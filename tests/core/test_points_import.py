"""``alarm-gateway points import``: a site's point table, as Excel or CSV, made into config."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from gateway.cli.main import main
from gateway.cli.points_import import import_points
from gateway.domain.model import Location, PointKind, PointState, Text
from gateway.errors import ConfigFileError, ConfigSchemaError
from tests.core.test_config import HEAD, load, write

MODBUS = """\
modbus:
  - {id: gas, host: 127.0.0.1, port: 15020}
"""
HEADER = ["编号", "类型", "名称", "英文名称", "楼栋", "楼层", "防区", "主题", "字段", "取值",
          "连接", "从站", "地址", "数据类型", "阈值", "备注"]


def workbook(path: Path, *rows: list[object], header: list[str] = HEADER,
             title: str = "点位表") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def good_rows() -> list[list[object]]:
    return [
        ["B1-F3-Z2", "smoke_detector", "1号楼3层2防区感烟", "B1 floor 3 zone 2 smoke", 1, 3, 2,
         "site/fire/b1/f3/z2", "state", "fire=alarm;normal=normal", None, None, None, None,
         None, "东侧"],
        ["GAS-KIT-07", "gas_detector", "地下室厨房燃气探测器", None, 1, "B1", 4,
         None, None, None, "gas", 7, 4711, "float32", "25=prealarm；50=alarm", None],
    ]


def test_an_xlsx_point_table_becomes_points_a_site_loads(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    table = workbook(tmp_path / "点位表.xlsx", *good_rows())
    out = tmp_path / "points.yaml"

    code = main(["points", "import", str(table), "-o", str(out)])

    assert code == 0, capsys.readouterr().err
    assert "2 points written" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# 2 points imported from 点位表.xlsx")
    points = load(write(tmp_path, HEAD, MODBUS, text)).points
    smoke, gas = points["B1-F3-Z2"], points["GAS-KIT-07"]
    assert smoke.kind is PointKind.SMOKE_DETECTOR
    assert smoke.name == Text("1号楼3层2防区感烟", "B1 floor 3 zone 2 smoke")
    assert smoke.location == Location(site="t1", building="1", floor="3", zone="2")
    assert smoke.mqtt.topic == "site/fire/b1/f3/z2"
    assert smoke.mqtt.values == {"fire": PointState.ALARM, "normal": PointState.NORMAL}
    assert gas.name == Text("地下室厨房燃气探测器", "地下室厨房燃气探测器")
    assert (gas.modbus.connection, gas.modbus.unit, gas.modbus.address) == ("gas", 7, 4711)
    assert gas.modbus.type == "float32"
    assert [(t.at_least, t.state) for t in gas.modbus.thresholds] == [
        (25, PointState.PREALARM), (50, PointState.ALARM)]


def test_every_bad_row_is_named_by_row_and_column_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smoke, gas = good_rows()
    table = workbook(tmp_path / "points.xlsx",
                     smoke,
                     ["B1-F3-Z3", "smoke_detecter", *smoke[2:]],
                     [None, *gas[1:]],
                     ["GAS-KIT-08", *gas[1:12], "40001a", *gas[13:]])
    out = tmp_path / "points.yaml"

    code = main(["points", "import", str(table), "-o", str(out)])

    assert code == ConfigSchemaError.exit_code
    assert not out.exists()
    errors = [line.removeprefix(f"error: {table}: ")
              for line in capsys.readouterr().err.splitlines()]
    assert [line.split(": ", 1)[0] for line in errors] == [
        "row 3, column B (类型)", "row 4, column A (编号)", "row 5, column M (地址)"]
    assert errors[0].startswith("row 3, column B (类型): Input should be 'fire_panel'")
    assert errors[1] == "row 4, column A (编号): empty, and this point needs it"
    assert "valid integer" in errors[2]


def test_a_csv_export_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    table = tmp_path / "points.csv"
    table.write_bytes("\ufeffid,kind,name_zh,name_en,zone,topic,decoder,property\r\n"
                      "W-01,water_leak,水泵房漏水,Pump room leak,1,z2m/leak_1,zigbee2mqtt,"
                      "water_leak\r\n".encode())

    _, points = import_points(table)

    assert points == [{"id": "W-01", "kind": "water_leak",
                       "name": {"zh": "水泵房漏水", "en": "Pump room leak"},
                       "location": {"zone": "1"},
                       "mqtt": {"topic": "z2m/leak_1", "decoder": "zigbee2mqtt",
                                "property": "water_leak"}}]


def test_a_csv_that_is_not_utf8_is_refused_with_the_way_to_save_it(tmp_path: Path) -> None:
    table = tmp_path / "points.csv"
    table.write_bytes("id,kind,name\r\nW-01,water_leak,水泵房漏水\r\n".encode("gbk"))

    with pytest.raises(ConfigFileError, match="CSV UTF-8"):
        import_points(table)


def test_an_unknown_column_is_named_in_the_header_row(tmp_path: Path) -> None:
    table = workbook(tmp_path / "points.xlsx", ["P1", "generic", "x"],
                     header=["id", "kind", "颜色"])

    with pytest.raises(ConfigSchemaError) as info:
        import_points(table)

    assert [p.path for p in info.value.problems] == ["row 1, column C (颜色)"]
    assert "unknown column" in info.value.problems[0].message


def test_a_formula_the_file_keeps_no_value_of_is_named(tmp_path: Path) -> None:
    table = workbook(tmp_path / "points.xlsx",
                     ["GAS-1", "gas_detector", "燃气", "gas", 1, "=100+4*3", "20=alarm"],
                     header=["id", "kind", "name", "connection", "unit_id", "address",
                             "thresholds"])

    with pytest.raises(ConfigSchemaError) as info:
        import_points(table)

    assert [p.path for p in info.value.problems] == ["row 2, column F (address)"]
    assert "open the file in Excel" in info.value.problems[0].message


def test_a_named_sheet_is_read(tmp_path: Path) -> None:
    table = workbook(tmp_path / "points.xlsx", ["P1", "generic", "t/p1", "on=alarm"],
                     header=["id", "kind", "topic", "values"], title="Sheet1")
    book = openpyxl.load_workbook(table)
    other = book.create_sheet("二期")
    other.append(["id", "kind", "topic", "values"])
    other.append(["P2", "generic", "t/p2", "on=alarm"])
    book.save(table)

    sheet, points = import_points(table, "二期")

    assert [p["id"] for p in points] == ["P2"]
    assert sheet.source == f"{table} (sheet 二期)"
    with pytest.raises(ConfigFileError, match="no sheet 'Sheet9'"):
        import_points(table, "Sheet9")
