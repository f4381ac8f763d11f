"""Every id a page, a call or a report would show has a name in both languages: zones that
are not numbered, and actuator commands (check refuses one without)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config.site import load_config
from gateway.domain.model import Location, Text
from gateway.errors import ConfigReferenceError, Problem
from tests.support.sites import site_files


def refused_without(config: Path, name: str) -> Problem:
    """The one problem check finds once the lines matching ``name`` are taken out."""
    text = config.read_text(encoding="utf-8")
    unnamed = re.sub(name, "\n", text)
    assert unnamed != text
    config.write_text(unnamed, encoding="utf-8")
    with pytest.raises(ConfigReferenceError) as refused:
        load_config(config)
    (problem,) = refused.value.problems
    return problem


def test_every_zone_reads_in_words_and_an_unnamed_one_is_refused(tmp_path: Path) -> None:
    """A numbered zone is a fire-alarm zone; any other has a name in both languages (a key
    may hold {n}); check names the point, the file and the line of one without."""
    config = site_files(tmp_path)
    site = load_config(config)
    place = site.zones.place
    (pump,) = [p for p in site.points.values() if p.location.zone == "pump_room"]
    assert place(pump.location) == Text("1号楼B2层水泵房", "building 1, floor B2, pump room")
    assert place(Location("demo", "2", "", "elevator-2")) == Text("2号楼2号电梯",
                                                                 "building 2, lift 2")
    assert place(Location("demo", "1", "12", "3")) == Text("1号楼12层3防区",
                                                          "building 1, floor 12, zone 3")
    assert site.zones.name("elevator-x") is None
    problem = refused_without(config, r"\n  pump_room:\n(    .*\n)+")
    assert problem.path.endswith("location.zone")
    assert problem.line is not None
    assert "zone 'pump_room' has no name" in problem.message


def test_an_actuator_command_has_a_name_or_is_a_common_one(tmp_path: Path) -> None:
    config = site_files(tmp_path)
    site = load_config(config)
    assert site.actuators["ELV-B1-L1"].commands["recall"].name == Text("迫降", "recall")
    (pa,) = [a for a in site.actuators.values() if "fire_evacuation" in a.commands]
    assert pa.commands["fire_evacuation"].name.zh == "火警疏散广播"
    problem = refused_without(
        config, r"\n      name:\n        en: fire evacuation announcement\n.*\n")
    assert problem.path.endswith("commands.fire_evacuation")
    assert "command 'fire_evacuation' has no name" in problem.message
