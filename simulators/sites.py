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
    site["points"] = [p for p in site["points"] if "modbus" not in p]
    for actuator in site["actuators"]:
        for command in actuator["commands"].values():
            if "modbus" in command:
                command.pop("modbus")
                command.pop("feedback", None)
                command["topic"] = f"demo/{actuator['id'].lower()}/cmd"
                command["payload"] = {"cmd": "fire_recall", "floor": 1}
    site["broker"] = {"host": "127.0.0.1", "port": 1883,
                      "client_id": f"gw-test-{uuid.uuid4().hex[:6]}",
                      "subscriptions": ["demo/#", "zigbee2mqtt/#"], "max_payload_bytes": 4096,
                      **broker}
    config = folder / "site.yaml"
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config
