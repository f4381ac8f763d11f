"""Each operator command is defined once (gateway.domain.commands) and every part of the
gateway that takes commands is made from that definition."""

from __future__ import annotations

from gateway.cli.main import build_parser
from gateway.console import auth
from gateway.console.bodies import body_of
from gateway.console.routes import incidents
from gateway.domain.commands import COMMANDS, INCIDENT_VERBS, Target
from gateway.engine.machine import Engine
from tests.support.sites import small_site


def test_the_workflow_handles_every_command_of_an_incident_and_no_other() -> None:
    site = small_site()
    assert set(Engine(site, {}).workflow.handlers) == set(INCIDENT_VERBS)


def test_the_console_has_a_route_for_every_command_of_an_incident() -> None:
    paths = {route.path for route in incidents.router.routes}  # type: ignore[attr-defined]
    for verb in INCIDENT_VERBS:
        assert f"/api/incidents/{{incident_id}}/{verb.replace('_', '-')}" in paths


def test_the_command_line_takes_every_command_but_the_sites_with_its_arguments() -> None:
    parser = build_parser()
    for definition in COMMANDS.values():
        if definition.target is Target.SITE:
            continue
        line = ["incidents", definition.verb.replace("_", "-")]
        if definition.target is Target.INCIDENT:
            line.append("INC-000001")
        for arg in definition.args:
            if arg.positional:
                line.append(arg.choices[0] if arg.choices else "x")
            elif arg.required:
                line += [f"--{arg.name}", "x"]
        parsed = vars(parser.parse_args(line))
        assert {a.name for a in definition.args} <= set(parsed), definition.verb


def test_each_command_needs_a_permission_the_console_knows_and_its_body_its_arguments() -> None:
    for definition in COMMANDS.values():
        assert definition.permission in auth.PERMISSIONS
        assert auth.VERB_PERMISSION[definition.verb] == definition.permission
        fields = set(body_of(definition.verb).model_fields)
        assert fields == {a.name for a in definition.args}


def test_a_tester_may_work_a_drill_incident_but_not_a_real_one() -> None:
    tester = auth.User("t", "t", ("tester",))
    assert tester.may_work("ack", drill=True)
    assert not tester.may_work("ack", drill=False)
    assert tester.may_work("note", drill=False)  # a note: anyone may add one
    assert not tester.may_work("close", drill=False)


def test_the_command_line_commands_an_actuator_by_hand_with_its_arguments() -> None:
    parsed = vars(build_parser().parse_args([
        "actuate", "ELV-B2-L1", "recall", "--reason", "井道进水", "--incident", "INC-000001",
        "--drill", "--by", "李明", "--store", "x.sqlite3"]))
    assert {a.name for a in COMMANDS["actuate"].args} <= set(parsed)
    assert (parsed["actuator"], parsed["command"], parsed["drill"], parsed["store"]) == (
        "ELV-B2-L1", "recall", True, "x.sqlite3")


def test_a_tester_may_command_an_actuator_by_hand_only_as_a_drill() -> None:
    tester = auth.User("t", "t", ("tester",))
    assert tester.may_actuate(drill=True)
    assert not tester.may_actuate(drill=False)
    for role in ("operator", "supervisor", "technician", "admin"):
        assert auth.User("u", "u", (role,)).may_actuate(drill=False), role
