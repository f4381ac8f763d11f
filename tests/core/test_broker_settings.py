"""What a Mosquitto config means for the alarms queued for the gateway."""

from __future__ import annotations

from pathlib import Path

from gateway.daemon.broker_settings import check_file, config_of, judge
from tests.support.processes import SHIPPED_BROKER_CONF


def test_the_shipped_settings_keep_queued_alarms() -> None:
    assert check_file(SHIPPED_BROKER_CONF) == []


def test_mosquittos_defaults_lose_alarms_on_a_restart_and_drop_a_long_queue() -> None:
    found = {f.setting: f for f in judge({})}
    assert sorted(found) == ["max_queued_messages", "persistence"]
    assert "restart loses every alarm" in found["persistence"].problem


def test_a_timed_autosave_and_a_short_expiry_are_named_with_their_fix() -> None:
    found = judge({"persistence": "true", "autosave_interval": "10",
                   "max_queued_messages": "0", "persistent_client_expiration": "2h"})
    assert [(f.setting, f.fix) for f in found] == [
        ("autosave_interval", "autosave_on_changes true and autosave_interval 100"),
        ("persistent_client_expiration", "14d, or leave it unset")]
    assert "saved every 10 s" in str(found[0])


def test_an_include_dir_is_read_and_its_files_win(tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    main = tmp_path / "mosquitto.conf"
    main.write_text(f"persistence false\ninclude_dir {folder}\n")
    (folder / "alarm-gateway.conf").write_text(SHIPPED_BROKER_CONF.read_text())
    assert check_file(main) == []


def test_the_broker_config_is_found_where_it_can_be(tmp_path: Path) -> None:
    system = tmp_path / "mosquitto.conf"
    system.write_text("listener 1883 127.0.0.1\nlistener 8883\n")
    mine = tmp_path / "site.conf"
    assert config_of("127.0.0.1", 1883, mine, None, system) == mine
    assert config_of("127.0.0.1", 18831, None, SHIPPED_BROKER_CONF, system) == (
        SHIPPED_BROKER_CONF)
    assert config_of("127.0.0.1", 8883, None, None, system) == system
    assert config_of("127.0.0.1", 1884, None, None, system) is None  # another broker
    assert config_of("10.0.0.5", 1883, None, None, system) is None  # not this machine's
    assert config_of("127.0.0.1", 1883, None, None, tmp_path / "absent.conf") is None
