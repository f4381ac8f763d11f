"""The standard's code tables, as data: system types and component types, each (zh, en).
An operator sees the name with the raw code beside it (``name``), so a code read differently by
a vendor is still visible for what it was."""

from __future__ import annotations

# component types that are gas detectors: their "fire" bit is a gas alarm
GAS_COMPONENTS = frozenset({10, 11, 12, 13, 74})

SYSTEM_TYPES: dict[int, tuple[str, str]] = {
    0: ("通用", "general"),
    1: ("火灾报警系统", "fire alarm system"),
    10: ("消防联动控制器", "fire linkage controller"),
    11: ("消火栓系统", "hydrant system"),
    12: ("自动喷水灭火系统", "sprinkler system"),
    13: ("气体灭火系统", "gas extinguishing system"),
    14: ("水喷雾灭火系统（泵启动）", "water spray system (pump started)"),
    15: ("水喷雾灭火系统（压力容器启动）", "water spray system (pressure vessel)"),
    16: ("泡沫灭火系统", "foam extinguishing system"),
    17: ("干粉灭火系统", "dry powder extinguishing system"),
    18: ("防烟排烟系统", "smoke control system"),
    19: ("防火门及卷帘系统", "fire doors and shutters"),
    20: ("消防电梯", "firefighter lift"),
    21: ("消防应急广播", "emergency PA"),
    22: ("消防应急照明和疏散指示系统", "emergency lighting and exit signs"),
    23: ("消防电源", "fire equipment power supply"),
    24: ("消防电话", "fire telephone"),
}

COMPONENT_TYPES: dict[int, tuple[str, str]] = {
    0: ("通用", "general"),
    1: ("火灾报警控制器", "fire alarm control panel"),
    10: ("可燃气体探测器", "combustible gas detector"),
    11: ("点型可燃气体探测器", "point gas detector"),
    12: ("独立式可燃气体探测器", "stand-alone gas detector"),
    13: ("线型可燃气体探测器", "line gas detector"),
    16: ("电气火灾监控报警器", "electrical fire monitor"),
    17: ("剩余电流式电气火灾监控探测器", "residual current fire detector"),
    18: ("测温式电气火灾监控探测器", "temperature electrical fire detector"),
    21: ("探测回路", "detection loop"),
    22: ("火灾显示盘", "fire display panel"),
    23: ("手动火灾报警按钮", "manual call point"),
    24: ("消火栓按钮", "hydrant button"),
    25: ("火灾探测器", "fire detector"),
    30: ("感温火灾探测器", "heat detector"),
    31: ("点型感温火灾探测器", "point heat detector"),
    32: ("点型感温火灾探测器（S型）", "point heat detector (S)"),
    33: ("点型感温火灾探测器（R型）", "point heat detector (R)"),
    34: ("线型感温火灾探测器", "linear heat detector"),
    35: ("线型感温火灾探测器（S型）", "linear heat detector (S)"),
    36: ("线型感温火灾探测器（R型）", "linear heat detector (R)"),
    37: ("光纤感温火灾探测器", "fibre-optic heat detector"),
    40: ("感烟火灾探测器", "smoke detector"),
    41: ("点型离子感烟火灾探测器", "ionisation smoke detector"),
    42: ("点型光电感烟火灾探测器", "photoelectric smoke detector"),
    43: ("线型光束感烟火灾探测器", "beam smoke detector"),
    44: ("吸气式感烟火灾探测器", "aspirating smoke detector"),
    50: ("复合式火灾探测器", "multi-sensor detector"),
    51: ("复合式感烟感温火灾探测器", "smoke and heat detector"),
    52: ("复合式感光感温火灾探测器", "flame and heat detector"),
    53: ("复合式感光感烟火灾探测器", "flame and smoke detector"),
    61: ("紫外火焰探测器", "ultraviolet flame detector"),
    62: ("红外火焰探测器", "infrared flame detector"),
    69: ("感光火灾探测器", "flame detector"),
    74: ("气体探测器", "gas detector"),
    78: ("图像摄像方式火灾探测器", "video fire detector"),
    79: ("感声火灾探测器", "acoustic fire detector"),
    81: ("气体灭火控制器", "gas extinguishing controller"),
    82: ("消防电气控制装置", "fire electrical control unit"),
    83: ("消防控制室图形显示装置", "control room graphic display"),
    84: ("模块", "module"),
    85: ("输入模块", "input module"),
    86: ("输出模块", "output module"),
    87: ("输入/输出模块", "input/output module"),
    88: ("中继模块", "repeater module"),
    91: ("消防水泵", "fire pump"),
    92: ("消防水箱", "fire water tank"),
    95: ("喷淋泵", "sprinkler pump"),
    96: ("水流指示器", "water flow indicator"),
    97: ("信号阀", "signal valve"),
    98: ("报警阀", "alarm valve"),
    99: ("压力开关", "pressure switch"),
    101: ("阀驱动装置", "valve actuator"),
    102: ("防火门", "fire door"),
    103: ("防火阀", "fire damper"),
    104: ("通风空调", "ventilation and air conditioning"),
    105: ("泡沫液泵", "foam pump"),
    106: ("管网电磁阀", "pipe network solenoid valve"),
    111: ("防烟排烟风机", "smoke exhaust fan"),
    113: ("排烟防火阀", "smoke exhaust damper"),
    114: ("常闭送风口", "normally closed air inlet"),
    115: ("排烟口", "smoke outlet"),
    116: ("电控挡烟垂壁", "motorised smoke curtain"),
    117: ("防火卷帘控制器", "fire shutter controller"),
    118: ("防火门监控器", "fire door monitor"),
    121: ("报警装置", "alarm sounder"),
}


def name(table: dict[int, tuple[str, str]], code: int, lang: str = "zh") -> str:
    """``感烟火灾探测器 (40)``; a code not in the table is ``code 130 (user-defined)`` or
    ``code 7 (reserved)``, never nothing."""
    known = table.get(code)
    if known is not None:
        return f"{known[0] if lang == 'zh' else known[1]} ({code})"
    kind = ("用户自定义" if lang == "zh" else "user-defined") if code >= 128 else (
        "预留" if lang == "zh" else "reserved")
    return f"{'代码' if lang == 'zh' else 'code'} {code} ({kind})"
