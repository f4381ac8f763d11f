"""Site config loading, playbook checking and ``alarm-gateway check``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.config.site import (
    DEFAULT_EMBEDDED_PORT,
    ENV_BROKER,
    ENV_STORE,
    BrokerConfig,
    SiteConfig,
    load_config,
)
from gateway.domain.model import ActuatorKind, Location, PointKind, PointState, Text
from gateway.errors import (
    ConfigError,
    ConfigFileError,
    ConfigReferenceError,
    ConfigSchemaError,
    ConfigSyntaxError,
    Problem,
)
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from tests.support.processes import ROOT

DEMO_SITE = ROOT / "config" / "site.yaml"
DEMO_PLAYBOOKS = ROOT / "playbooks"

HEAD = """\
site: {id: t1, name: Test site, address: 1 Test Road}
roles: {monitoring_center: Monitoring center}
"""

# items at column 0, so that a test can append more points as a dedented part
ONE_POINT = """\
points:
- id: P1
  kind: smoke_detector
  mqtt: {topic: t/p1, field: state, values: {fire: alarm, normal: normal}}
"""


@pytest.fixture(autouse=True)
def _no_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # cmd_check reads the real environment; keep the developer's shell out of the tests
    monkeypatch.delenv(ENV_BROKER, raising=False)
    monkeypatch.delenv(ENV_STORE, raising=False)


# ----------------------------------------------------------------------------- helpers


def write(directory: Path, *parts: str, name: str = "site.yaml") -> Path:
    """Write a YAML document made of parts, each dedented on its own."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(textwrap.dedent(part) for part in parts), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line of ``path`` containing ``needle``."""
    hits = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if needle in line]
    return hits[nth - 1]


def load(path: Path, **kwargs: str) -> SiteConfig:
    return load_config(path, environ={}, **kwargs)


def config_error(exc_type: type[ConfigError], fn: Callable[[], object]) -> ConfigError:
    """Run ``fn``, require exactly ``exc_type`` (not a subclass or sibling) and return it."""
    with pytest.raises(ConfigError) as info:
        fn()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    return info.value


def only_problem(exc: ConfigError) -> Problem:
    assert len(exc.problems) == 1, exc.problems
    return exc.problems[0]


def demo_copy(tmp_path: Path, *, site: Callable[[str], str] = lambda t: t,
              fire: Callable[[str], str] = lambda t: t) -> Path:
    """The shipped config and playbooks under tmp_path, optionally edited; returns site.yaml."""
    site_path = tmp_path / "config" / "site.yaml"
    site_path.parent.mkdir(parents=True)
    original = DEMO_SITE.read_text(encoding="utf-8")
    site_path.write_text(site(original), encoding="utf-8")
    shutil.copytree(DEMO_PLAYBOOKS, tmp_path / "playbooks")
    fire_path = tmp_path / "playbooks" / "fire.yaml"
    fire_path.write_text(fire(fire_path.read_text(encoding="utf-8")), encoding="utf-8")
    return site_path


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def load_demo_playbooks(site_path: Path) -> dict[str, Playbook]:
    site = load(site_path)
    return load_playbooks(site.playbook_dir, site)


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- shipped demo


def test_demo_config_loads_360_points() -> None:
    site = load(DEMO_SITE)

    assert site.site_id == "demo"
    fire, gas, leak, buttons, elevators, valves = 2 * 18 * 4 * 2, 4 * 2, 1 + 3, 4, 2 + 4, 2
    power = 2 + 1  # two mains feeders and the generator
    panel = 2 * 18 + 3  # building 2's panel: two loops, and its own points
    car_park = 1 + 4 + 1  # the DC-09 panel's own point, its smoke detectors, a call point
    assert len(site.points) == (fire + gas + leak + buttons + elevators + valves + power
                                + panel + car_park)
    assert len(site.actuators) == 9


def test_demo_playbooks_load_against_demo_config() -> None:
    playbooks = load_demo_playbooks(DEMO_SITE)

    assert {"device_fault", "fire", "gas_leak"} <= set(playbooks)
    assert [s.id for s in playbooks["fire"].stages] == ["unverified", "false_alarm", "minor",
                                                        "confirmed"]


def test_for_each_range_includes_both_ends() -> None:
    site = load(DEMO_SITE)

    smoke = [p for p in site.points.values()
             if p.kind is PointKind.SMOKE_DETECTOR and p.mqtt is not None]
    assert len(smoke) == 2 * 18 * 4
    assert {"B1-F1-Z1", "B2-F18-Z4"} <= set(site.points)
    assert "B1-F19-Z1" not in site.points
    assert "B1-F0-Z1" not in site.points


def test_for_each_substitutes_id_name_topic_and_location() -> None:
    point = load(DEMO_SITE).points["B2-F7-Z3"]

    assert point.name == Text("2号楼7层3防区感烟探测器",
                              "Building 2 floor 7 zone 3 smoke detectors")
    assert point.mqtt.topic == "demo/fire/b2/f7/z3"
    assert point.location == Location(site="demo", building="2", floor="7", zone="3")


def test_for_each_zero_padded_range_keeps_its_width(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "P-{n}"
            for_each: {n: "08..11"}
            kind: water_leak
            mqtt: {topic: "t/leak_{n}", decoder: zigbee2mqtt, property: water_leak}
        """)

    site = load(path)

    assert list(site.points) == ["P-08", "P-09", "P-10", "P-11"]
    assert site.points["P-09"].mqtt.topic == "t/leak_09"


def test_for_each_short_zero_padded_range(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "P-{n}"
            for_each: {n: "01..03"}
            kind: water_leak
            mqtt: {topic: "t/leak_{n}", decoder: zigbee2mqtt, property: water_leak}
        """)

    assert list(load(path).points) == ["P-01", "P-02", "P-03"]


def test_for_each_list_values(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "W-{room}"
            for_each: {room: [pump, garage, boiler]}
            kind: water_leak
            location: {zone: "{room}"}
            mqtt: {topic: "t/{room}", decoder: zigbee2mqtt, property: water_leak}
        zones:
          pump: {zh: 水泵房, en: pump room}
          garage: {zh: 车库, en: garage}
          boiler: {zh: 锅炉房, en: boiler room}
        """)

    site = load(path)

    assert list(site.points) == ["W-pump", "W-garage", "W-boiler"]
    assert site.points["W-garage"].location.zone == "garage"
    assert site.points["W-boiler"].mqtt.topic == "t/boiler"


def test_for_each_expands_every_combination(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "B{b}-{side}"
            for_each: {b: "1..2", side: [east, west, north]}
            kind: heat_detector
            mqtt: {topic: "t/{b}/{side}", field: s, values: {hot: alarm}}
        """)

    assert sorted(load(path).points) == ["B1-east", "B1-north", "B1-west",
                                         "B2-east", "B2-north", "B2-west"]


def test_for_each_leaves_unknown_placeholders_alone(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "P{n}"
            for_each: {n: [1]}
            kind: generic
            name: "{other} text"
            mqtt: {topic: "t/{n}", field: s, values: {on: alarm}}
        """)

    assert load(path).points["P1"].name.en == "{other} text"


def test_site_id_is_filled_into_point_and_actuator_locations() -> None:
    site = load(DEMO_SITE)

    assert site.points["W-PUMP-01"].location.site == "demo"
    assert site.actuators["PA-SITE"].location == Location(site="demo")


def test_explicit_location_site_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detector
            location: {site: annex, building: 3}
            mqtt: {topic: t/p1, field: state, values: {fire: alarm}}
        """)

    assert load(path).points["P1"].location == Location(site="annex", building="3")


def test_point_without_name_is_named_by_its_id(tmp_path: Path) -> None:
    site = load(write(tmp_path, HEAD, ONE_POINT))

    assert site.points["P1"].name == Text("P1", "P1")


def test_demo_relative_paths_resolve_against_the_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    site = load(DEMO_SITE)

    assert site.store_path == ROOT / "var" / "demo.sqlite3"
    assert site.playbook_dir == DEMO_PLAYBOOKS


def test_relative_config_path_resolves_store_and_playbooks_to_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "etc", HEAD, ONE_POINT, """\
        store: {path: data/gw.sqlite3}
        playbooks: procedures
        """)
    monkeypatch.chdir(tmp_path)

    site = load(Path("etc/site.yaml"))

    assert site.store_path == tmp_path / "etc" / "data" / "gw.sqlite3"
    assert site.playbook_dir == tmp_path / "etc" / "procedures"


def test_durations_are_seconds() -> None:
    assert load(DEMO_SITE).points["W-PUMP-01"].heartbeat == 25 * 3600
    assert load(DEMO_SITE).modbus["gas-controller"].timeout == 0.5


# ----------------------------------------------------------------------------- overrides


def test_broker_and_store_arguments_override_the_file() -> None:
    site = load(DEMO_SITE, broker="mqtt://u:p@h:1234", store="/x.db")

    assert (site.broker.host, site.broker.port) == ("h", 1234)
    assert (site.broker.username, site.broker.password) == ("u", "p")
    assert site.store_path == Path("/x.db")


def test_broker_override_turns_off_the_embedded_broker() -> None:
    site = load(DEMO_SITE, broker="h:1234")

    assert site.broker.embedded is False
    assert site.embedded_broker_config is None


def test_broker_override_without_scheme_or_port_defaults_to_1883() -> None:
    assert load(DEMO_SITE, broker="broker.local").broker.port == 1883


def test_broker_override_url_decodes_credentials() -> None:
    broker = load(DEMO_SITE, broker="mqtts://gate%40way:p%3Ass@h:8883").broker

    assert (broker.username, broker.password) == ("gate@way", "p:ss")


def test_environment_overrides_broker_and_store() -> None:
    site = load_config(DEMO_SITE, environ={ENV_BROKER: "mqtt://env:pw@envhost:2000",
                                           ENV_STORE: "/env/store.db"})

    assert (site.broker.host, site.broker.port, site.broker.username) == ("envhost", 2000, "env")
    assert site.broker.embedded is False
    assert site.store_path == Path("/env/store.db")


def test_command_line_override_wins_over_environment() -> None:
    site = load_config(DEMO_SITE, broker="cli:1111", store="/cli.db",
                       environ={ENV_BROKER: "env:2222", ENV_STORE: "/env.db"})

    assert (site.broker.host, site.broker.port) == ("cli", 1111)
    assert site.store_path == Path("/cli.db")


def test_environment_is_ignored_when_environ_is_given_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BROKER, "shell:3333")

    assert load_config(DEMO_SITE, environ={}).broker.embedded is True


def test_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_STORE, "/from/shell.db")

    assert load_config(DEMO_SITE).store_path == Path("/from/shell.db")


@pytest.mark.parametrize("url", ["ftp://h:21", "mqtt://h:99999", "mqtt://h:port", "mqtt://:1883"])
def test_bad_broker_override_is_a_reference_error(url: str) -> None:
    exc = config_error(ConfigReferenceError, lambda: load(DEMO_SITE, broker=url))

    problem = only_problem(exc)
    assert exc.exit_code == 6
    assert problem.path == "broker"
    assert problem.file == str(DEMO_SITE)


def test_bad_broker_override_from_environment_is_a_reference_error() -> None:
    config_error(ConfigReferenceError,
                 lambda: load_config(DEMO_SITE, environ={ENV_BROKER: "http://h:80"}))


# ----------------------------------------------------------------------------- broker


def test_no_broker_section_starts_the_embedded_broker_on_its_port() -> None:
    site = load(DEMO_SITE)

    assert site.broker.embedded is True
    assert (site.broker.host, site.broker.port) == ("127.0.0.1", 18831)
    assert site.broker.client_id == "alarm-gateway-demo"
    assert site.embedded_broker_config == DEMO_SITE.parent / "mosquitto.conf"


def test_embedded_broker_port_defaults_when_not_configured(tmp_path: Path) -> None:
    broker = load(write(tmp_path, HEAD, ONE_POINT)).broker

    assert broker.embedded is True
    assert broker.port == DEFAULT_EMBEDDED_PORT


def test_embedded_broker_uses_the_configured_port(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, "embedded_broker: {port: 19999}\n")

    assert load(path).broker.port == 19999


def test_subscriptions_default_to_every_bound_topic_once(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: B
            kind: smoke_detector
            mqtt: {topic: t/b, field: state, values: {fire: alarm}}
          - id: A
            kind: smoke_detector
            mqtt: {topic: t/a, field: state, values: {fire: alarm}}
          - id: A2
            kind: heat_detector
            mqtt: {topic: t/a, field: heat, values: {hot: alarm}}
        """)

    site = load(path)

    assert site.broker.subscriptions == ("t/a", "t/b")
    assert [p.id for p in site.points_by_topic()["t/a"]] == ["A", "A2"]


def test_demo_subscribes_to_all_its_topics() -> None:
    site = load(DEMO_SITE)

    readings = {p.mqtt.topic for p in site.points.values() if p.mqtt is not None}
    availability = {p.mqtt.availability for p in site.points.values()
                    if p.mqtt is not None and p.mqtt.availability}
    assert set(site.broker.subscriptions) == readings | availability | {
        "zigbee2mqtt/bridge/state"}
    assert len(readings) == 301
    assert len(availability) == 8  # each Zigbee2MQTT device's availability topic


def test_zigbee2mqtt_points_follow_their_availability_bridge_and_clock() -> None:
    site = load(DEMO_SITE)
    leak = site.points["W-GAR-01"].mqtt
    assert leak is not None
    assert (leak.availability, leak.bridge, leak.time_field) == (
        "zigbee2mqtt/garage/leak_1/availability", "zigbee2mqtt/bridge/state", "last_seen")
    panel = site.points["B1-F3-Z1"]
    assert panel.mqtt is not None
    assert (panel.mqtt.availability, panel.mqtt.bridge, panel.mqtt.time_field) == (
        None, None, None)
    assert (panel.group, site.points["W-GAR-01"].group) == ("mqtt:demo/fire", "mqtt:zigbee2mqtt")
    assert site.points["G-B1-01"].group == "modbus:gas-controller"


def test_broker_section_is_used_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        broker:
          host: 192.0.2.10
          port: 8883
          username: gateway
          password: s3cret-pw
          subscriptions: ["t/#"]
          tls: {ca_file: /etc/ca.crt}
        """)

    broker = load(path).broker

    assert broker.embedded is False
    assert (broker.host, broker.port, broker.username) == ("192.0.2.10", 8883, "gateway")
    assert broker.subscriptions == ("t/#",)
    assert broker.describe() == "mqtts://gateway@192.0.2.10:8883"


def test_override_without_credentials_keeps_the_file_credentials(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        broker: {host: h, username: gateway, password: s3cret-pw}
        """)

    broker = load(path, broker="other:1884").broker

    assert (broker.host, broker.port, broker.username) == ("other", 1884, "gateway")
    assert broker.password == "s3cret-pw"


def test_broker_describe_and_repr_never_show_the_password() -> None:
    broker = BrokerConfig(host="h", port=1883, client_id="c", username="u",
                          password="hunter2-secret")

    assert broker.describe() == "mqtt://u@h:1883"
    assert "hunter2-secret" not in repr(broker)


# ----------------------------------------------------------------------------- file and syntax


def test_missing_config_file_is_a_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    exc = config_error(ConfigFileError, lambda: load(missing))

    assert exc.exit_code == 3
    assert only_problem(exc).file == str(missing)
    assert str(missing) in str(exc)
    assert "not found" in str(exc)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detector: oops
        """)

    exc = config_error(ConfigSyntaxError, lambda: load(path))

    problem = only_problem(exc)
    assert exc.exit_code == 4
    assert problem.line == line_of(path, "oops")
    assert f"{path}:{problem.line}:" in str(exc)
    assert "YAML syntax error" in problem.message


def test_empty_config_file_is_a_schema_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    exc = config_error(ConfigSchemaError, lambda: load(path))

    assert exc.exit_code == 5
    assert "mapping" in only_problem(exc).message


# ----------------------------------------------------------------------------- schema


def test_missing_required_field_names_its_path_and_the_parent_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P0
            kind: smoke_detector
            mqtt: {topic: t/0, field: state, values: {fire: alarm}}
          - id: P1
            kind: smoke_detector
            mqtt: {topic: t/1, field: state, values: {fire: alarm}}
          - id: P2
            kind: smoke_detector
            mqtt:
              field: state
              values: {fire: alarm}
        """)

    exc = config_error(ConfigSchemaError, lambda: load(path))

    problem = only_problem(exc)
    assert exc.exit_code == 5
    assert problem.path == "points[2].mqtt.topic"
    assert problem.line == line_of(path, "mqtt:", nth=3)
    assert problem.message == "required field is missing"
    assert str(problem) == (f"{path}:{problem.line}: points[2].mqtt.topic: "
                            "required field is missing")


def test_missing_top_level_section_is_a_schema_error(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: t1, name: T, address: A}\n", ONE_POINT)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "roles"


def test_unknown_field_in_a_point_is_reported_as_a_typo(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detector
            mqtt:
              topic: t/p1
              feild: state
              values: {fire: alarm}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].mqtt.feild"
    assert problem.line == line_of(path, "feild")
    assert "unknown field" in problem.message


def test_unknown_top_level_section_is_reported_as_a_typo(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, "playbook: ../playbooks\n")

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "playbook"
    assert problem.line == line_of(path, "playbook:")


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        broker:
          host: h
          port: eighteen
        """)

    exc = config_error(ConfigSchemaError, lambda: load(path))

    problem = only_problem(exc)
    assert problem.path == "broker.port"
    assert problem.line == line_of(path, "eighteen")
    assert "integer" in problem.message


def test_bad_duration_names_the_point_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: gas_detector
            heartbeat: soon
            mqtt: {topic: t/gas, decoder: zigbee2mqtt, property: gas}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].heartbeat"
    assert problem.line == line_of(path, "soon")
    assert "duration" in problem.message


def test_unknown_point_kind_is_a_bad_enum_value(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detecter
            mqtt: {topic: t/p1, field: state, values: {fire: alarm}}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].kind"
    assert problem.line == line_of(path, "smoke_detecter")
    assert "smoke_detector" in problem.message


def test_unknown_state_in_a_value_mapping_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detector
            mqtt:
              topic: t/p1
              field: state
              values: {fire: burning}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].mqtt.values.fire"
    assert problem.line == line_of(path, "burning")


def test_schema_error_inside_for_each_points_at_the_template(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
          - id: "Z{n}"
            for_each: {n: "1..5"}
            kind: smoke_detector
            mqtt: {topic: "t/z{n}", field: state, values: {fire: alarm}, deadband: -1}
        """)

    exc = config_error(ConfigSchemaError, lambda: load(path))

    problem = only_problem(exc)
    assert problem.path == "points[1].mqtt.deadband"
    assert problem.line == line_of(path, "deadband")


def test_backwards_for_each_range_is_a_schema_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: "P{n}"
            for_each: {n: "5..1"}
            kind: smoke_detector
            mqtt: {topic: "t/{n}", field: state, values: {fire: alarm}}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].for_each.n"
    assert problem.line == line_of(path, "for_each")
    assert "backwards" in problem.message


@pytest.mark.parametrize("topic", ["t/+/state", "t/#"])
def test_wildcard_in_a_point_topic_is_a_schema_error(tmp_path: Path, topic: str) -> None:
    path = write(tmp_path, HEAD, f"""\
        points:
          - id: P1
            kind: smoke_detector
            mqtt: {{topic: "{topic}", field: state, values: {{fire: alarm}}}}
        """)

    exc = config_error(ConfigSchemaError, lambda: load(path))

    problem = only_problem(exc)
    assert exc.exit_code == 5
    assert problem.path == "points[0].mqtt"
    assert problem.line == line_of(path, "mqtt:")
    assert "wildcard" in problem.message


def test_zigbee2mqtt_decoder_without_property_is_a_schema_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: W1
            kind: water_leak
            mqtt: {topic: z/leak, decoder: zigbee2mqtt}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].mqtt"
    assert problem.line == line_of(path, "mqtt:")
    assert "property" in problem.message


@pytest.mark.parametrize("decoder", ["json", "plain"])
def test_decoder_with_neither_values_nor_thresholds_is_a_schema_error(
        tmp_path: Path, decoder: str) -> None:
    path = write(tmp_path, HEAD, f"""\
        points:
          - id: P1
            kind: generic
            mqtt: {{topic: t/p1, decoder: {decoder}}}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].mqtt"
    assert "values" in problem.message
    assert "thresholds" in problem.message


def test_thresholds_alone_satisfy_the_json_decoder(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: G1
            kind: gas_detector
            mqtt:
              topic: t/gas
              field: lel
              deadband: 5
              thresholds: [{at_least: 50, state: alarm}, {at_least: 25, state: prealarm}]
        """)

    binding = load(path).points["G1"].mqtt

    assert [t.at_least for t in binding.thresholds] == [25, 50]
    assert binding.deadband == 5


def test_plain_decoder_with_a_field_is_a_schema_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: generic
            mqtt: {topic: t/p1, decoder: plain, field: state, values: {on: alarm}}
        """)

    problem = only_problem(config_error(ConfigSchemaError, lambda: load(path)))

    assert problem.path == "points[0].mqtt"
    assert "plain" in problem.message


def test_value_mapping_keys_are_lower_cased_and_booleans_become_words(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: generic
            mqtt:
              topic: t/p1
              field: s
              values: {FIRE: alarm, true: alarm, false: normal, 3: test}
        """)

    values = load(path).points["P1"].mqtt.values

    assert values == {"fire": PointState.ALARM, "true": PointState.ALARM,
                      "false": PointState.NORMAL, "3": PointState.TEST}


# ----------------------------------------------------------------------------- references


def test_duplicate_point_ids_are_a_reference_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
          - id: P1
            kind: heat_detector
            mqtt: {topic: t/other, field: state, values: {hot: alarm}}
        """)

    exc = config_error(ConfigReferenceError, lambda: load(path))

    problem = only_problem(exc)
    assert exc.exit_code == 6
    assert problem.path == "points[1].id"
    assert problem.line == line_of(path, "id: P1", nth=2)
    assert "duplicate point id 'P1'" in problem.message


def test_for_each_without_placeholder_in_id_gives_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: SAME
            for_each: {n: "1..2"}
            kind: smoke_detector
            mqtt: {topic: "t/{n}", field: state, values: {fire: alarm}}
        """)

    problem = only_problem(config_error(ConfigReferenceError, lambda: load(path)))

    assert problem.path == "points[0].id"


def test_duplicate_actuator_ids_are_a_reference_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        actuators:
          - {id: V1, kind: gas_valve, commands: {close: {topic: v/1}}}
          - {id: V1, kind: water_valve, commands: {close: {topic: v/2}}}
        """)

    exc = config_error(ConfigReferenceError, lambda: load(path))

    problem = only_problem(exc)
    assert problem.path == "actuators[1].id"
    assert problem.line == line_of(path, "id: V1", nth=2)
    assert "duplicate actuator id 'V1'" in problem.message


def test_duplicate_contact_ids_are_a_reference_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        contacts:
          - {id: fire, name: Fire brigade, phone: "119"}
          - {id: fire, name: Fire brigade again, phone: "119"}
        """)

    problem = only_problem(config_error(ConfigReferenceError, lambda: load(path)))

    assert problem.path == "contacts[1].id"


def test_reference_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        - id: P1
          kind: heat_detector
          mqtt: {topic: t/other, field: state, values: {hot: alarm}}
        actuators:
          - {id: V1, kind: gas_valve, commands: {close: {topic: v/1}}}
          - {id: V1, kind: water_valve, commands: {close: {topic: v/2}}}
        """)

    exc = config_error(ConfigReferenceError, lambda: load(path))

    assert [p.path for p in exc.problems] == ["points[1].id", "actuators[1].id"]


def test_actuator_command_payload_mapping_becomes_compact_json() -> None:
    site = load(DEMO_SITE)

    recall = site.actuators["ELV-B1-L1"].commands["recall"]
    assert site.actuators["ELV-B1-L1"].kind is ActuatorKind.ELEVATOR
    assert recall.payload == '{"cmd":"fire_recall","floor":1}'
    assert (recall.qos, recall.retain) == (1, False)


# ----------------------------------------------------------------------------- playbooks


def test_playbook_step_with_unknown_role(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("role: on_duty_patrol", "role: night_watch"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))

    problem = only_problem(exc)
    assert exc.exit_code == 6
    assert problem.file == str(fire)
    assert problem.path == "stages[0].steps[0].role"
    assert problem.line == line_of(fire, "night_watch")
    assert "unknown role 'night_watch'" in problem.message
    assert "on_duty_patrol" in problem.message  # lists the known roles


def test_playbook_step_escalating_to_unknown_role(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("escalate_to: project_manager",
                                                 "escalate_to: ceo"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    problem = only_problem(config_error(ConfigReferenceError, lambda: load_demo_playbooks(site)))

    assert problem.path == "stages[0].steps[1].escalate_to"
    assert problem.line == line_of(fire, "escalate_to: ceo")
    assert "unknown role 'ceo'" in problem.message


def test_playbook_prompt_calling_unknown_contact(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("call: fire_brigade", "call: firemen"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    problem = only_problem(config_error(ConfigReferenceError, lambda: load_demo_playbooks(site)))

    assert problem.path == "stages[3].prompts[0].call"
    assert problem.line == line_of(fire, "call: firemen")
    assert "unknown contact 'firemen'" in problem.message


def test_playbook_action_for_an_actuator_kind_the_site_lacks(tmp_path: Path) -> None:
    """A site without elevators keeps the shipped playbooks: each recall becomes a prompt to
    do it by hand, said as a warning at its place in the file (gateway.playbook.fit)."""
    site = demo_copy(tmp_path, site=lambda t: t.replace("kind: elevator\n", "kind: generic\n"))
    fire = tmp_path / "playbooks" / "fire.yaml"
    config = load(site)
    warnings: list[Problem] = []
    playbooks = load_playbooks(config.playbook_dir, config, warnings)

    # every playbook that moves elevators is told; fire's warning is the one looked at here
    assert sorted({Path(p.file).name for p in warnings}) == [
        "earthquake.yaml", "fire.yaml", "water_leak.yaml"]
    warning = next(p for p in warnings if p.file == str(fire))
    assert warning.path == "stages[3].actions[0]"
    assert warning.line is not None
    assert "no actuator of kind 'elevator'" in warning.message
    confirmed = playbooks["fire"].stages[3]
    assert not any(a.actuator_kind == ActuatorKind.ELEVATOR for a in confirmed.actions)
    assert "by_hand_elevator_recall" in [p.id for p in confirmed.prompts]


def test_playbook_action_command_an_actuator_lacks(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("command: recall", "command: fire_recall"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))

    # one problem per elevator that cannot take the command
    assert {p.path for p in exc.problems} == {"stages[3].actions[0].command"}
    assert {p.line for p in exc.problems} == {line_of(fire, "command: fire_recall")}
    assert sorted(p.message.split()[1] for p in exc.problems) == [
        "ELV-B1-L1", "ELV-B1-L2", "ELV-B2-L1", "ELV-B2-L2"]
    assert "has no command 'fire_recall' (it has: out_of_service, recall, restore)" in \
        exc.problems[0].message


def test_playbook_stage_no_branch_leads_to_can_never_be_entered(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("goto: minor}", "verdict: minor}"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))

    problem = only_problem(exc)
    assert exc.exit_code == 6
    assert problem.file == str(fire)
    assert problem.path == "stages[2].id"
    assert problem.line == line_of(fire, "  - id: minor")
    assert "stage 'minor' can never be entered" in problem.message


def test_playbook_prompt_without_timeout_policy_is_refused(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("        timeout: 1m\n", ""))
    problem = only_problem(config_error(ConfigReferenceError,
                                        lambda: load_demo_playbooks(site)))
    assert problem.path == "stages[3].prompts[0]"
    assert "prompt 'call_119' has no timeout policy" in problem.message


def test_playbook_prompt_acting_on_timeout_without_actions_is_refused(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once(
        "        on_timeout: escalate\n        escalate_to: duty_supervisor\n        text:\n"
        "          zh: 拨打 119",
        "        on_timeout: act\n        text:\n          zh: 拨打 119"))
    problem = only_problem(config_error(ConfigReferenceError,
                                        lambda: load_demo_playbooks(site)))
    assert problem.path == "stages[3].prompts[0].on_timeout"
    assert "acts on timeout but has no actions" in problem.message


def test_playbook_branch_option_without_outcome_is_refused(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once(", goto: minor}", "}"))
    fire = tmp_path / "playbooks" / "fire.yaml"
    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))
    messages = {p.path: p.message for p in exc.problems}
    assert "branch option 'minor' has no outcome" in messages["stages[0].branch.options[1]"]
    assert "stage 'minor' can never be entered" in messages["stages[2].id"]
    assert line_of(fire, "id: minor, label") in {p.line for p in exc.problems}


def test_playbook_branch_to_unknown_stage_and_backwards_is_refused(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=lambda t: t.replace(
        "goto: false_alarm,", "goto: false_alrm,").replace("goto: minor}", "goto: unverified}"))
    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))
    messages = {p.path: p.message for p in exc.problems}
    assert "unknown stage 'false_alrm'" in messages["stages[0].branch.options[0].goto"]
    assert "a branch only leads forward" in messages["stages[0].branch.options[1].goto"]


def test_playbook_unknown_point_in_trigger_and_unknown_actuator_are_refused(
        tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=lambda t: t.replace(
        "  correlate_by: building\n", "  correlate_by: building\n  points: [B1-F1-Z1, B9-F1-Z1]\n"
    ).replace("            actuator_kind: pa_system\n            scope: site\n",
              "            actuators: [PA-SITE, PA-NOWHERE]\n"))
    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))
    messages = {p.path: p.message for p in exc.problems}
    assert "unknown point 'B9-F1-Z1'" in messages["trigger.points[1]"]
    assert "unknown actuator 'PA-NOWHERE'" in messages[
        "stages[3].prompts[1].actions[0].actuators[1]"]


def test_playbook_unknown_commander_and_follow_up_roles_are_refused(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=lambda t: t.replace(
        "commander: duty_supervisor", "commander: chief").replace(
        "    role: customer_service\n    due: 3d", "    role: concierge\n    due: 3d"))
    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))
    messages = {p.path: p.message for p in exc.problems}
    assert "unknown role 'chief'" in messages["commander"]
    assert "unknown role 'concierge'" in messages["follow_up[0].role"]


def test_playbook_without_trigger_must_be_manual(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=lambda t: re.sub(r"trigger:\n(?:  .*\n)+", "manual: false\n",
                                                     t, count=1))
    problem = only_problem(config_error(ConfigSchemaError, lambda: load_demo_playbooks(site)))
    assert "must be manual" in problem.message


def test_playbook_first_stage_with_enter_is_a_schema_error(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once(
        "    name: {zh: 火警（待核实）, en: Fire — unverified}\n",
        "    name: {zh: 火警（待核实）, en: Fire — unverified}\n    enter: {operator: true}\n"))

    problem = only_problem(config_error(ConfigSchemaError, lambda: load_demo_playbooks(site)))

    assert "first stage" in problem.message


def test_playbook_escalate_to_without_deadline_is_a_schema_error(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("        deadline: 5m\n", ""))
    fire = tmp_path / "playbooks" / "fire.yaml"

    exc = config_error(ConfigSchemaError, lambda: load_demo_playbooks(site))

    problem = only_problem(exc)
    assert problem.path == "stages[0].steps[1]"
    assert problem.line == line_of(fire, "id: supervisor_on_scene")
    assert "escalate_to needs a deadline" in problem.message


def test_playbook_bad_severity_names_the_field(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("severity: critical", "severity: huge"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    problem = only_problem(config_error(ConfigSchemaError, lambda: load_demo_playbooks(site)))

    assert (problem.path, problem.line) == ("severity", line_of(fire, "severity: huge"))


def test_duplicate_playbook_id_across_two_files_is_a_reference_error(tmp_path: Path) -> None:
    site = demo_copy(tmp_path)
    first = tmp_path / "playbooks" / "device_fault.yaml"
    second = tmp_path / "playbooks" / "later_copy.yaml"
    shutil.copy(first, second)

    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))

    problem = only_problem(exc)
    assert exc.exit_code == 6
    assert problem.file == str(second)
    assert problem.path == "id"
    assert problem.line == line_of(second, "id: device_fault")
    assert str(first) in problem.message


def test_playbook_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("role: on_duty_patrol", "role: night_watch"))
    fault = tmp_path / "playbooks" / "device_fault.yaml"
    fault.write_text(fault.read_text(encoding="utf-8").replace("role: engineering",
                                                               "role: plumbers"),
                     encoding="utf-8")

    exc = config_error(ConfigReferenceError, lambda: load_demo_playbooks(site))

    assert sorted(Path(p.file).name for p in exc.problems) == ["device_fault.yaml", "fire.yaml"]


def test_schema_problem_outranks_reference_problem_in_another_playbook(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("severity: critical", "severity: huge"))
    fault = tmp_path / "playbooks" / "device_fault.yaml"
    fault.write_text(fault.read_text(encoding="utf-8").replace("role: engineering",
                                                               "role: plumbers"),
                     encoding="utf-8")

    exc = config_error(ConfigSchemaError, lambda: load_demo_playbooks(site))

    assert {p.path for p in exc.problems} == {"severity", "stages[0].steps[0].role"}


def test_playbook_yaml_syntax_error_is_a_syntax_error(tmp_path: Path) -> None:
    site = demo_copy(tmp_path, fire=replace_once("states: [alarm]", "states: [alarm"))

    exc = config_error(ConfigSyntaxError, lambda: load_demo_playbooks(site))

    assert exc.exit_code == 4
    assert only_problem(exc).file == str(tmp_path / "playbooks" / "fire.yaml")


def test_missing_playbook_folder_is_a_reference_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, "playbooks: nowhere\n")

    problem = only_problem(config_error(ConfigReferenceError, lambda: load_demo_playbooks(path)))

    assert problem.path == "playbooks"
    assert str(tmp_path / "nowhere") in problem.message


def test_empty_playbook_folder_is_a_reference_error(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    path = write(tmp_path, HEAD, ONE_POINT)

    problem = only_problem(config_error(ConfigReferenceError, lambda: load_demo_playbooks(path)))

    assert "no playbooks" in problem.message


# ----------------------------------------------------------------------------- alarm-gateway check


def test_check_valid_config_prints_ok_and_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(DEMO_SITE, capsys)

    assert code == 0
    assert f"{DEMO_SITE}: OK" in out
    assert ("points      360: 301 on MQTT topics, 14 on Modbus (3 connections), 39 of 1 "
            "panels behind GB/T 26875.3 listeners, 6 of SIA DC-09 panel accounts") in out
    assert "playbooks   11 in" in out
    assert "fire                 火警 / Fire [critical]" in out
    assert "opens: gas_detector in alarm, prealarm, one per zone; by hand" in out
    assert "earthquake" in out
    assert "embedded" in out
    assert err == ""


def test_check_missing_file_returns_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"

    code, out, err = run_check(missing, capsys)

    assert code == 3
    assert f"{missing}: INVALID" in err
    assert f"{missing}: file not found" in err
    assert out == ""


def test_check_syntax_error_returns_4_with_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD, "points:\n  - id: P1\n    kind: smoke_detector: oops\n")

    code, _, err = run_check(path, capsys)

    assert code == 4
    assert f"{path}:{line_of(path, 'oops')}:" in err


def test_check_schema_error_returns_5_naming_file_line_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detector
            mqtt:
              topic: t/p1
              values: {fire: alarm}
          - id: P2
            kind: smoke_detecter
            mqtt: {topic: t/p2, values: {fire: alarm}}
        """)

    code, out, err = run_check(path, capsys)

    assert code == 5
    assert f"{path}: INVALID" in err
    assert f"{path}:{line_of(path, 'smoke_detecter')}: points[1].kind:" in err
    assert out == ""


def test_check_reference_error_returns_6(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, ONE_POINT.replace("points:\n", ""))

    code, _, err = run_check(path, capsys)

    assert code == 6
    assert f"{path}:{line_of(path, 'id: P1', nth=2)}: points[1].id: duplicate point id" in err


def test_check_playbook_error_returns_6_naming_the_playbook_line_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = demo_copy(tmp_path, fire=replace_once("call: fire_brigade", "call: firemen"))
    fire = tmp_path / "playbooks" / "fire.yaml"

    code, out, err = run_check(site, capsys)

    assert code == 6
    assert f"{tmp_path / 'playbooks'}: INVALID" in err
    assert f"{fire}:{line_of(fire, 'call: firemen')}: stages[3].prompts[0].call:" in err
    assert "OK" not in out


def test_check_playbook_schema_error_returns_5(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = demo_copy(tmp_path, fire=replace_once("        deadline: 5m\n", ""))
    fire = tmp_path / "playbooks" / "fire.yaml"

    code, _, err = run_check(site, capsys)

    assert code == 5
    assert f"{fire}:{line_of(fire, 'id: supervisor_on_scene')}: stages[0].steps[1]:" in err


def test_check_as_a_subprocess_exits_non_zero_for_a_broken_config(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD, """\
        points:
          - id: P1
            kind: smoke_detecter
            mqtt: {topic: t/p1, values: {fire: alarm}}
        """)
    env = {k: v for k, v in os.environ.items() if k not in {ENV_BROKER, ENV_STORE}}

    result = subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(path)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
                            check=False)

    assert result.returncode == 5
    assert f"{path}:{line_of(path, 'smoke_detecter')}: points[0].kind:" in result.stderr


def test_check_never_prints_the_broker_password_from_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = demo_copy(tmp_path, site=replace_once(
        "embedded_broker:\n",
        "broker:\n  host: 192.0.2.10\n  port: 8883\n  username: gateway\n"
        "  password: Zx9-very-secret\n  tls: {ca_file: /etc/ca.crt}\n\nembedded_broker:\n"))

    code, out, err = run_check(site, capsys)

    assert code == 0
    assert "mqtts://gateway@192.0.2.10:8883" in out
    assert "Zx9-very-secret" not in out + err


def test_check_never_prints_the_broker_password_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV_BROKER, "mqtt://gateway:Zx9-very-secret@10.0.0.5:1884")

    code, out, err = run_check(DEMO_SITE, capsys)

    assert code == 0
    assert "mqtt://gateway@10.0.0.5:1884" in out
    assert "Zx9-very-secret" not in out + err


def test_check_never_prints_the_password_when_the_file_is_broken(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD, ONE_POINT, """\
        broker:
          host: h
          port: eighteen
          password: Zx9-very-secret
        """)

    code, out, err = run_check(path, capsys)

    assert code == 5
    assert "broker.port" in err
    assert "Zx9-very-secret" not in out + err


def test_bad_broker_override_never_prints_the_password(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    monkeypatch.setenv(ENV_BROKER, "mqtt://gateway:Zx9-very-secret@10.0.0.5:99999")
    code, out, err = run_check(DEMO_SITE, capsys)
    assert code == 6
    assert "Zx9-very-secret" not in out + err
    assert "***@10.0.0.5" in err


def test_stage_rule_problems_name_the_playbook(tmp_path: Path) -> None:
    site_path = demo_copy(tmp_path, fire=replace_once(
        "    name: {zh: 火警（待核实）, en: Fire — unverified}\n",
        "    name: {zh: 火警（待核实）, en: Fire — unverified}\n    enter: {operator: true}\n"))
    problem = only_problem(config_error(ConfigSchemaError,
                                        lambda: load_demo_playbooks(site_path)))
    assert problem.path == ""
    assert problem.file == str(tmp_path / "playbooks" / "fire.yaml")


def test_duplicate_step_id_in_a_playbook_is_a_reference_error(tmp_path: Path) -> None:
    site_path = demo_copy(tmp_path, fire=replace_once("      - id: evacuate\n",
                                                      "      - id: verify\n"))
    problem = only_problem(config_error(ConfigReferenceError,
                                        lambda: load_demo_playbooks(site_path)))
    assert problem.path == "stages[3].steps[0].id"
    assert "duplicate step id 'verify'" in problem.message


def test_duplicate_yaml_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    site_path = demo_copy(tmp_path, site=lambda t: t + "\nroles:\n  cleaning: Cleaning\n")
    problem = only_problem(config_error(ConfigSyntaxError, lambda: load(site_path)))
    assert problem.path == "roles"
    assert problem.line == line_of(site_path, "roles:", 2)
    assert f"first given at line {line_of(site_path, 'roles:')}" in problem.message


def test_check_warns_of_tls_files_it_cannot_read_without_showing_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nsecretmaterial\n-----END PRIVATE KEY-----\n")
    site = demo_copy(tmp_path, site=lambda t: t.replace(
        "embedded_broker:\n", "broker:\n  host: 127.0.0.1\n  port: 8883\n  password: hunter22\n"
        f"  username: gw\n  tls: {{ca_file: missing-ca.crt, key_file: {key},"
        f" cert_file: {key}}}\n\nembedded_broker:\n", 1))
    code, out, err = run_check(site, capsys)
    assert code == 0, err
    assert f"warning     broker.tls.ca_file {tmp_path / 'config' / 'missing-ca.crt'} cannot be " \
           "read" in out
    assert "broker.tls.key_file" not in out  # readable: no warning
    assert "secretmaterial" not in out + err
    assert "hunter22" not in out + err
