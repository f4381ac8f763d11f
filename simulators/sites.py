"""Sites for testers: the demo site over MQTT only, written to a folder of its own."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def mqtt_only_demo(folder: Path, *, deadline: str | None = None,
                   **broker: Any) -> Path:
    """The demo site over MQTT only, subscribed with wildcards (unknown topics reach it);
    returns its config file.

    The Modbus devices (gas controller, building-2 elevators, valves) are left out, and the
    building-2 elevators take their recall over MQTT like building 1. ``deadline`` replaces
    the fire playbook's 3-minute deadlines; ``broker`` settings replace the defaults (a fresh
    client id, ``demo/#`` and ``zigbee2mqtt/#``, payloads up to 4 KiB).
    """
    playbooks = folder / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    if deadline is not None:
        fire = playbooks / "fire.yaml"
        fire.write_text(fire.read_text().replace("deadline: 3m", f"deadline: {deadline}"))
    site = yaml.safe_load((ROOT / "config" / "site.yaml").read_text())
    site["playbooks"] = str(playbooks)
    site.pop("modbus")
    site.pop("supervision", None)  # it names the Modbus connections
    site.pop("receivers", None)  # panels over IP: panel_demo and dc09_demo add their own
    site.pop("panels", None)
    site["points"] = [p for p in site["points"]
                      if "modbus" not in p and "dc09" not in p and "panel" not in p]
    for actuator in site["actuators"]:
        for name, command in actuator["commands"].items():
            if "modbus" in command:
                command.pop("modbus")
                command.pop("feedback", None)
                command["topic"] = f"demo/{actuator['id'].lower()}/cmd"
                command["payload"] = {"cmd": "reset"} if name == "restore" else {
                    "cmd": "fire_recall", "floor": 1}
    site["broker"] = {"host": "127.0.0.1", "port": 1883,
                      "client_id": f"gw-test-{uuid.uuid4().hex[:6]}",
                      "subscriptions": ["demo/#", "zigbee2mqtt/#"], "max_payload_bytes": 4096,
                      **broker}
    config = folder / "site.yaml"
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


PANEL_DEVICE, PANEL_CENTER = 889, 88888
PANEL_TABLE = """address,kind,building,floor,zone,unit,name
{rows}
"""


def panel_demo(folder: Path, port: int, *, idle_timeout: str = "90s", **broker: Any) -> Path:
    """The demo site over MQTT (``mqtt_only_demo``) with building 2's fire panel reporting
    through a GB/T 26875.3 transmission device (address 889) to a listener on ``port``
    (center address 88888): loop 1 holds a smoke detector on each floor (``1-001`` .. ``1-018``,
    floor n at point n), loop 2 a manual call point on floors 1-18 (``2-001`` ..)."""
    config = mqtt_only_demo(folder, **broker)
    site = yaml.safe_load(config.read_text())
    rows = [f"1-{f:03d},smoke_detector,2,{f},,,2号楼{f}层感烟探测器" for f in range(1, 19)]
    rows += [f"2-{f:03d},manual_call_point,2,{f},,,2号楼{f}层手动报警按钮" for f in range(1, 19)]
    (folder / "b2-facp.csv").write_text(PANEL_TABLE.format(rows="\n".join(rows)),
                                        encoding="utf-8")
    site["receivers"] = {"gbt26875": [{
        "id": "fire-center", "host": "127.0.0.1", "port": port,
        "center_address": PANEL_CENTER, "idle_timeout": idle_timeout}]}
    site["panels"] = [{
        "id": "B2-FACP", "receiver": "fire-center", "device": PANEL_DEVICE, "system": 1,
        "name": {"zh": "2号楼火灾报警控制器", "en": "Building 2 fire alarm panel"},
        "location": {"building": "2"}, "components": "b2-facp.csv"}]
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


DC09_ACCOUNT = "5678"


def dc09_demo(folder: Path, port: int, *, key: str | None = None, link_test: str = "0s",
              **broker: Any) -> Path:
    """The demo site over MQTT (``mqtt_only_demo``) with the car park's panel reporting over
    SIA DC-09 (TCP and UDP on ``port``) as account 5678 (``key``: its AES key in hex):
    zone 1 a smoke detector, 2 a water-leak sensor, 3 a manual call point, and the panel's
    own point ``CP-PANEL`` for the rest."""
    config = mqtt_only_demo(folder, **broker)
    site = yaml.safe_load(config.read_text())
    account: dict[str, Any] = {"account": DC09_ACCOUNT, "link_test": link_test}
    if key is not None:
        account["key"] = key
    site["receivers"] = {"dc09": [{"id": "alarm-receiver", "host": "127.0.0.1", "port": port,
                                   "accounts": [account]}]}
    where = {"building": "2", "floor": "B1", "zone": "car_park"}
    bind = {"receiver": "alarm-receiver", "account": DC09_ACCOUNT}
    site["points"] += [
        {"id": "CP-PANEL", "kind": "fire_panel", "location": where, "dc09": bind,
         "name": {"zh": "地下车库报警主机", "en": "Car park alarm panel"}},
        {"id": "CP-Z1", "kind": "smoke_detector", "location": where, "dc09": {**bind, "zone": 1}},
        {"id": "CP-Z2", "kind": "water_leak", "location": where, "dc09": {**bind, "zone": 2}},
        {"id": "CP-Z3", "kind": "manual_call_point", "location": where,
         "dc09": {**bind, "zone": 3}},
    ]
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config
