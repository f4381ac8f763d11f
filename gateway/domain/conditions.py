"""A point's trouble conditions: each comes and goes on its own, with its name in zh and en.

A point's main channel says alarm, prealarm, normal, test, warm-up or offline; beside it a
device reports troubles (a low battery, a tamper switch, a fault code) that do not say whether
the leak stopped or the fire is out. Each is its own signal: the alarm's restore is seen even
while a trouble stays, and a device-fault incident names its cause.
"""

from __future__ import annotations

from gateway.domain.model import Text

CONDITIONS: dict[str, Text] = {
    "low_battery": Text("电池电量低", "low battery"),
    "tamper": Text("防拆开关触发", "tamper"),
    "fault": Text("设备故障", "fault"),
    "bad_input": Text("数据无法解析", "unreadable messages"),
    "sensor_fault": Text("传感器故障", "sensor fault"),
    "power_fault": Text("电源故障", "power fault"),
    # what fire panels report beside alarms (GB/T 26875.3 status bits)
    "disabled": Text("屏蔽", "disabled"),
    "supervisory": Text("监管", "supervisory"),
    "main_power_fault": Text("主电故障", "main power fault"),
    "backup_power_fault": Text("备电故障", "backup power fault"),
    "bus_fault": Text("总线故障", "bus fault"),
    "center_link_fault": Text("与监控中心通信故障", "link to the monitoring center down"),
    "panel_link_fault": Text("与控制器连接故障", "link to the panel down"),
}

# Zigbee2MQTT properties that report a trouble, and the condition each is
ZIGBEE_TROUBLES: dict[str, str] = {
    "battery_low": "low_battery",
    "tamper": "tamper",
    "fault": "fault",
    "sensor_fault": "sensor_fault",
    "power_outage": "power_fault",
}


def condition_of_property(prop: str) -> str:
    return ZIGBEE_TROUBLES.get(prop, prop)


def name(condition: str) -> Text:
    """How a condition is said; an unknown one by its own name."""
    return CONDITIONS.get(condition, Text(condition, condition.replace("_", " ")))
