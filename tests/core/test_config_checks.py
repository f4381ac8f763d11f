"""What ``check`` (and loading the config) refuses because it hurts on the day: a feedback
value its point never reports, a register mapped two ways, a Modbus address in the 1-based
Modicon notation, a timeout of zero or below, a bound topic no subscription brings in. Each
problem names the file, the line and the field, and says what to write instead."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.config.site import ENV_BROKER, ENV_STORE, SiteConfig, load_config
from gateway.errors import ConfigError, ConfigReferenceError, ConfigSchemaError, Problem
from gateway.playbook.load import load_playbooks
from tests.support.processes import ROOT

HEAD = """\
site: {id: t1, name: Test site, address: 1 Test Road}
roles: {monitoring_center: Monitoring center}
modbus:
- {id: lifts, host: 127.0.0.1, port: 1502}
"""


def recall(point: str, feedback: str = "value: 1", timeout: str = "90s") -> str:
    """An elevator whose recall (a coil) waits for ``point`` to report ``feedback``."""
    return f"""\
actuators:
- id: L1
  kind: elevator
  commands:
    recall:
      modbus: {{connection: lifts, unit: 1, table: coil, address: 0}}
      feedback:
        point: {point}
        {feedback}
        timeout: {timeout}
"""


def point(binding: str, *, id: str = "P1", kind: str = "elevator_status") -> str:
    return f"""\
points:
- id: {id}
  kind: {kind}
  {binding}
"""


@pytest.fixture(autouse=True)
def _no_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BROKER, raising=False)
    monkeypatch.delenv(ENV_STORE, raising=False)


def site_file(tmp_path: Path, *parts: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(HEAD + "".join(textwrap.dedent(p) for p in parts), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


def refused(path: Path, kind: type[ConfigError] = ConfigReferenceError) -> Problem:
    """The one problem loading ``path`` finds."""
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert type(info.value) is kind, info.value
    (problem,) = info.value.problems
    assert problem.file == str(path)
    return problem


def loads(path: Path) -> SiteConfig:
    return load_config(path, environ={})


# ----------------------------------------------------------------------------- feedback


def test_a_true_feedback_on_a_register_bit_is_refused_with_the_value_to_write(
        tmp_path: Path) -> None:
    """As seen: the car's "recalled" bit reads 1, the feedback waited for true, and every
    recall was reported failed and escalated while both cars stood at the ground floor."""
    path = site_file(tmp_path, point("modbus: {connection: lifts, unit: 1, address: 4, "
                                     "type: bit, bit: 3}"), recall("P1", "value: true"))

    problem = refused(path)

    assert problem.path == "actuators[0].commands.recall.feedback.value"
    assert problem.line == line_of(path, "value: true")
    assert problem.message == (
        "point P1 reads bit 3 of its register as 1 or 0, never true: this feedback can never "
        "be met, so every 'recall' would fail at its timeout and be escalated; write value: 1 "
        "(or 0)")


@pytest.mark.parametrize(("binding", "feedback", "says"), [
    ("modbus: {connection: lifts, unit: 1, table: coil, address: 9}", "value: 1",
     "point P1 is a coil and reports true or false, never 1: .* write value: true"),
    ("modbus: {connection: lifts, unit: 1, address: 4, bits: {4: trouble}}", "value: recalled",
     "reports its status word as a whole number \\(uint16\\), never 'recalled'"),
    ("modbus: {connection: lifts, unit: 1, address: 4}", "value: 2.5",
     "reports its register as a whole number \\(uint16\\), never 2.5"),
    ("modbus: {connection: lifts, unit: 1, address: 0, values: {0: normal, 2: normal}}",
     "value: closed", "reports only the values its 'values' maps \\(0, 2\\), never 'closed': "
     ".* write one of them"),
    ("mqtt: {topic: t/l1, field: mode, values: {moving: normal, recalled: normal}}",
     "value: true", "reports only the values its 'values' maps \\(moving, recalled\\), "
     "never true"),
    ("mqtt: {topic: t/l1, decoder: zigbee2mqtt, property: contact}", "value: ground",
     "reports its property 'contact' as true or false, never 'ground'"),
])
def test_a_feedback_value_its_point_never_reports_is_refused(
        tmp_path: Path, binding: str, feedback: str, says: str) -> None:
    path = site_file(tmp_path, point(binding), recall("P1", feedback))

    problem = refused(path)

    assert problem.path == "actuators[0].commands.recall.feedback.value"
    assert problem.line == line_of(path, feedback)
    assert re.search(says, problem.message), problem.message


@pytest.mark.parametrize(("binding", "feedback"), [
    ("modbus: {connection: lifts, unit: 1, address: 4, type: bit, bit: 3}", "value: 1"),
    ("modbus: {connection: lifts, unit: 1, table: discrete_input, address: 9}", "value: true"),
    ("modbus: {connection: lifts, unit: 1, address: 0, values: {0: normal, 2: normal}}",
     "value: 2"),
    ("modbus: {connection: lifts, unit: 1, address: 0, type: float32}", "value: 2.5"),
    ("modbus: {connection: lifts, unit: 1, address: 4, bits: {4: trouble}}", "state: trouble"),
    ("mqtt: {topic: t/l1, field: recalled, values: {true: normal, false: normal}}",
     "value: true"),
    ("mqtt: {topic: t/l1, field: mode, values: {Recalled: normal, moving: normal}}",
     "value: RECALLED"),
    ("mqtt: {topic: t/l1, field: level, values: {fault: trouble}, "
     "thresholds: [{at_least: 50, state: alarm}]}", "value: 0"),
])
def test_a_feedback_value_its_point_can_report_is_taken(
        tmp_path: Path, binding: str, feedback: str) -> None:
    site = loads(site_file(tmp_path, point(binding), recall("P1", feedback)))

    assert site.actuators["L1"].commands["recall"].feedback is not None


# ----------------------------------------------------------------------------- one way


def test_thresholds_beside_bits_are_refused_at_the_thresholds_that_would_be_ignored(
        tmp_path: Path) -> None:
    """As seen: 'bits' silently won and the gas level never raised an alarm."""
    path = site_file(tmp_path, """\
        points:
        - id: G1
          kind: gas_detector
          modbus:
            connection: lifts
            unit: 1
            address: 0
            bits: {4: trouble, 5: trouble}
            thresholds: [{at_least: 25, state: prealarm}, {at_least: 50, state: alarm}]
        """)

    problem = refused(path)

    assert problem.path == "points[0].modbus.thresholds"
    assert problem.line == line_of(path, "thresholds:")
    assert problem.message.startswith(
        "'bits' and 'thresholds' on one point: its value is read one way only ('bits' would "
        "win and 'thresholds' never be looked at); keep one, or bind the register as two "
        "points")


# ----------------------------------------------------------------------------- Modicon


@pytest.mark.parametrize(("table", "address", "says"), [
    ("holding", 40001, "bindings use the 0-based protocol address: 40001 is holding register "
                       "0; write address: 0"),
    ("input", 30010, "30010 is input register 9; write address: 9"),
    ("holding", 30001, "30001 is input register 0; write table: input, address: 0"),
    ("discrete_input", 10005, "10005 is discrete input 4; write address: 4"),
    ("coil", 40003, "40003 is holding register 2; write table: holding, address: 2"),
])
def test_a_modicon_address_is_refused_with_the_protocol_address(
        tmp_path: Path, table: str, address: int, says: str) -> None:
    path = site_file(tmp_path, point(f"modbus: {{connection: lifts, unit: 1, table: {table}, "
                                     f"address: {address}}}"))

    problem = refused(path)

    assert problem.path == "points[0].modbus.address"
    assert problem.line == line_of(path, f"address: {address}")
    assert problem.message.startswith(f"address {address} is the 1-based Modicon notation")
    assert problem.message.endswith(f"{says} (or protocol_address: true if the device's own "
                                    "map numbers it so)")
    # a device whose own map numbers its registers from 40000 (SunSpec) says so
    path.write_text(path.read_text(encoding="utf-8").replace(
        f"address: {address}}}", f"address: {address}, protocol_address: true}}"),
        encoding="utf-8")
    assert loads(path).points["P1"].modbus is not None


def test_a_modicon_address_in_a_command_write_is_refused(tmp_path: Path) -> None:
    path = site_file(tmp_path, point("modbus: {connection: lifts, unit: 1, address: 4, "
                                     "type: bit, bit: 3}"),
                     recall("P1").replace("table: coil, address: 0", "table: coil, "
                                          "address: 10001"))

    problem = refused(path)

    assert problem.path == "actuators[0].commands.recall.modbus.address"
    assert "10001 is discrete input 0" in problem.message
    assert "table: discrete_input" not in problem.message  # a command cannot write one


@pytest.mark.parametrize(("table", "address"), [("holding", 10001), ("holding", 29999),
                                                ("input", 50000), ("coil", 9999)])
def test_an_address_outside_the_modicon_ranges_of_its_table_is_taken(
        tmp_path: Path, table: str, address: int) -> None:
    site = loads(site_file(tmp_path, point(f"modbus: {{connection: lifts, unit: 1, "
                                           f"table: {table}, address: {address}}}")))

    assert site.points["P1"].modbus is not None
    assert site.points["P1"].modbus.address == address


# ----------------------------------------------------------------------------- timeouts

BIT = point("modbus: {connection: lifts, unit: 1, address: 4, type: bit, bit: 3}")


@pytest.mark.parametrize(("edit", "field", "says"), [
    (lambda t: t.replace("port: 1502}", "port: 1502, timeout: 0}"), "modbus[0].timeout",
     "a timeout of 0 fails every request before the device can answer: give the time to "
     "wait, e.g. 500ms"),
    (lambda t: t.replace("timeout: 90s", "timeout: 0s"),
     "actuators[0].commands.recall.feedback.timeout",
     "a timeout of 0 fails the action before the device can confirm it"),
    (lambda t: t.replace("  kind: elevator_status\n", "  kind: elevator_status\n  heartbeat: 0\n"),
     "points[0].heartbeat", "a heartbeat of 0 takes the point offline"),
    (lambda t: t + "broker: {keepalive: 0}\n", "broker.keepalive",
     "a keepalive under 1s turns the MQTT keep-alive off"),
    (lambda t: t + "receivers: {gbt26875: [{id: fc, port: 15999, center_address: 1, "
                   "idle_timeout: 0}]}\n", "receivers.gbt26875[0].idle_timeout",
     "an idle_timeout of 0 cuts every device off"),
])
def test_a_timeout_of_zero_is_refused(tmp_path: Path, edit: object, field: str,
                                      says: str) -> None:
    path = site_file(tmp_path, BIT, recall("P1"))
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]

    problem = refused(path)

    assert problem.path == field
    assert problem.line is not None
    assert problem.message.startswith(says), problem.message


@pytest.mark.parametrize("timeout", ["-5s", "-5"])
def test_a_negative_timeout_is_refused_as_negative(tmp_path: Path, timeout: str) -> None:
    path = site_file(tmp_path, BIT, recall("P1", timeout=timeout))

    problem = refused(path, ConfigSchemaError)

    assert problem.path == "actuators[0].commands.recall.feedback.timeout"
    assert problem.line == line_of(path, f"timeout: {timeout}")
    assert problem.message == ("a duration cannot be negative: give the time to wait, e.g. "
                               "500ms, 90s, 3m")


@pytest.mark.parametrize(("needle", "zero", "field"), [
    ("        deadline: 3m\n", "        deadline: 0s\n", "stages[0].steps[0].deadline"),
    ("        timeout: 1m\n", "        timeout: 0\n", "stages[3].prompts[0].timeout"),
])
def test_a_playbook_deadline_or_timeout_of_zero_is_refused(
        tmp_path: Path, needle: str, zero: str, field: str) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    fire = playbooks / "fire.yaml"
    text = fire.read_text(encoding="utf-8")
    assert needle in text
    fire.write_text(text.replace(needle, zero, 1), encoding="utf-8")

    with pytest.raises(ConfigReferenceError) as info:
        load_playbooks(playbooks, load_config(ROOT / "config" / "site.yaml", environ={}))

    (problem,) = info.value.problems
    assert (problem.file, problem.path) == (str(fire), field)
    assert problem.line == line_of(fire, zero.strip())
    assert "of 0 has passed before anyone can act" in problem.message


# ----------------------------------------------------------------------------- topics


def test_a_bound_topic_no_subscription_covers_is_refused(tmp_path: Path) -> None:
    path = site_file(tmp_path, point("mqtt: {topic: plant/p1, values: {1: alarm, 0: normal}}",
                                     kind="water_leak"),
                     "broker: {subscriptions: ['demo/#', 'plant/+/status']}\n")

    problem = refused(path)

    assert problem.path == "points[0].mqtt.topic"
    assert problem.line == line_of(path, "mqtt:")
    assert problem.message == (
        "topic 'plant/p1' is covered by no filter of broker.subscriptions (demo/#, "
        "plant/+/status): its messages would never arrive; add it, or a filter that covers it "
        "such as 'plant/#'")


def test_a_default_availability_topic_no_subscription_covers_is_refused(tmp_path: Path) -> None:
    path = site_file(tmp_path, point("mqtt: {topic: z2m/leak_1, decoder: zigbee2mqtt, "
                                     "property: water_leak}", kind="water_leak"),
                     "broker: {subscriptions: [z2m/leak_1, z2m/bridge/state]}\n")

    problem = refused(path)

    assert problem.path == "points[0].mqtt"
    assert problem.message.startswith(
        "availability topic 'z2m/leak_1/availability' (the zigbee2mqtt default) is covered by "
        "no filter of broker.subscriptions")
    assert problem.message.endswith(", or write availability: false")


def test_bound_topics_covered_by_wildcards_are_taken(tmp_path: Path) -> None:
    site = loads(site_file(tmp_path, point("mqtt: {topic: z2m/leak_1, decoder: zigbee2mqtt, "
                                           "property: water_leak}", kind="water_leak"),
                           "broker: {subscriptions: ['z2m/+', 'z2m/+/availability', "
                           "'z2m/bridge/#']}\n"))

    assert site.broker.subscriptions == ("z2m/+", "z2m/+/availability", "z2m/bridge/#")


# ----------------------------------------------------------------------------- check


def test_check_names_file_line_and_field_of_such_a_mistake(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = site_file(tmp_path, point("modbus: {connection: lifts, unit: 1, address: 40005}"))

    code = main(["check", "-c", str(path)])

    err = capsys.readouterr().err
    assert code == 6
    assert (f"{path}:{line_of(path, 'address: 40005')}: points[0].modbus.address: address 40005 is "
            "the 1-based Modicon notation: bindings use the 0-based protocol address: 40005 "
            "is holding register 4; write address: 4") in err


@pytest.mark.parametrize("config", ["config/site.yaml", "tests/support/sites/small.yaml"])
def test_the_shipped_sites_pass_these_checks(config: str) -> None:
    assert loads(ROOT / config).points
