"""The duty roster: who holds each role at a time on the site's clock, across shift boundaries,
night shifts that run past midnight, weekday runs, date overrides (swaps) and deputies."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.cli.main import main
from gateway.config.site import SiteConfig, load_config
from gateway.errors import ConfigReferenceError
from tests.support.sites import site_files

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> SiteConfig:
    return load_config(site_files(tmp_path_factory.mktemp("roster")), environ={})


def who(site: SiteConfig, role: str, when: str) -> str:
    duty = site.roster.on_duty(role, at(when))
    return duty.person if duty else ""


def test_a_shift_starts_on_its_minute_and_a_night_belongs_to_the_evening_it_starts(
        demo: SiteConfig) -> None:
    # Monday 2026-12-07: the supervisor of weekdays' day shift is zhang.wei
    assert who(demo, "duty_supervisor", "2026-12-07 07:59") == "wang.fang"  # Sunday's night
    assert who(demo, "duty_supervisor", "2026-12-07 08:00") == "zhang.wei"
    assert who(demo, "duty_supervisor", "2026-12-07 19:59") == "zhang.wei"
    assert who(demo, "duty_supervisor", "2026-12-07 20:00") == "wang.fang"
    # Saturday's day shift is wang.fang's; the patrol's nights are li.ming's every day
    assert who(demo, "duty_supervisor", "2026-12-05 12:00") == "wang.fang"
    assert who(demo, "on_duty_patrol", "2026-12-06 02:30") == "li.ming"
    duty = demo.roster.on_duty("on_duty_patrol", at("2026-12-06 02:30"))
    assert duty is not None
    assert (duty.shift, duty.since, duty.until, duty.deputy) == (
        "night", at("2026-12-05 20:00"), at("2026-12-06 08:00"), "zhao.qiang")
    assert who(demo, "project_manager", "2026-12-06 03:00") == "sun.li"  # all day
    assert who(demo, "cleaning", "2026-12-06 03:00") == ""  # on no roster


def edited(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    config = site_files(tmp_path)
    site = yaml.safe_load(config.read_text(encoding="utf-8"))
    change(site["roster"])
    config.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return config


def test_a_swap_for_one_night_is_an_override_of_that_date(tmp_path: Path) -> None:
    config = edited(tmp_path, lambda r: r.setdefault("overrides", []).append(
        {"date": "2026-12-24", "role": "duty_supervisor", "shift": "night",
         "person": "chen.jie", "reason": "调班"}))
    site = load_config(config, environ={})
    swapped = site.roster.on_duty("duty_supervisor", at("2026-12-25 03:00"))
    assert swapped is not None
    assert (swapped.person, swapped.swapped) == ("chen.jie", "调班")
    assert who(site, "duty_supervisor", "2026-12-25 20:00") == "wang.fang"  # the next night


def _set(index: int, key: str, value: str) -> Callable[[dict[str, Any]], None]:
    return lambda r: r["duty"][index].__setitem__(key, value)


@pytest.mark.parametrize(("change", "where", "said"), [
    (_set(0, "person", "zhao"), "roster.duty[0].person", "unknown person 'zhao'"),
    (_set(0, "role", "patrol"), "roster.duty[0].role", "unknown role 'patrol'"),
    (_set(1, "shift", "nite"), "roster.duty[1].shift", "unknown shift 'nite'"),
    (_set(2, "days", "mon-fry"), "roster.duty[2].days", "'mon-fry' is not a weekday"),
    (_set(3, "days", "fri-sun"), "roster.duty[3]", "given twice for the same weekdays"),
])
def test_check_names_each_mistake_of_the_roster(
        tmp_path: Path, change: Callable[[dict[str, Any]], None], where: str,
        said: str) -> None:
    with pytest.raises(ConfigReferenceError) as refused:
        load_config(edited(tmp_path, change), environ={})
    problem = next(p for p in refused.value.problems if p.path == where)
    assert said in problem.message
    assert problem.line is not None


def test_a_shift_is_a_time_range(tmp_path: Path) -> None:
    config = edited(tmp_path, lambda r: r["shifts"].__setitem__("day", "8 to 20"))
    with pytest.raises(ConfigReferenceError, match="08:00-20:00"):
        load_config(config, environ={})


def test_roster_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = str(site_files(tmp_path))
    assert main(["roster", "-c", config, "--at", "2026-12-07 08:00"]) == 0
    out = capsys.readouterr().out
    assert "2026-12-07 08:00 (UTC+08:00)" in out
    assert re.search(r"当值主管 / Duty supervisor: 张伟 / Zhang Wei \(zhang\.wei\).*替班 deputy: "
                     r"陈杰", out)
    assert main(["roster", "-c", config, "--at", "at noon"]) == 1
    assert "not a time" in capsys.readouterr().err
