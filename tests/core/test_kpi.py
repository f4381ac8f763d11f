"""KPIs over a small known set of incidents, figures computed by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli.reports import period
from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.model import PointState
from gateway.engine.machine import Engine
from gateway.present.kpi import Kpis, compute_kpis, kpis_to_json, stat
from gateway.present.kpi_render import render_kpis_html, render_kpis_markdown, render_kpis_text
from gateway.store import open_records
from tests.core.test_report import (
    HOSTILE_ZONE,
    at,
    on_stored,
    past,
    persist,
    run_cli,
    tick_at,
)
from tests.support.engine import CLOSE, T0, Harness

DAY = 86400.0
HOSTILE_DEVICE = HOSTILE_ZONE  # a device name as a panel might send it


def fire_records(h: Harness, incident_id: str, *, confirmed: bool = False) -> None:
    h.command("record", incident_id, field="cause", value="原因")
    h.command("record", incident_id, field="injuries", value="无")
    if confirmed:
        h.command("record", incident_id, field="brigade_arrived_at", value=past(h, 60))
        h.command("record", incident_id, field="fire_out_at", value=past(h, 30))


def known_set(h: Harness) -> dict[str, str]:
    """Five incidents, one of them a drill:

    fire 1  real         ack 20 s, patrol on scene 100 s (on time), call_119 timed out
    fire 2  false alarm  ack 40 s, verify deadline missed, patrol on scene 240 s (late)
    fire 3  false alarm  ack 90 s; reopened after the period's middle
    drill   fire drill   ack 30 s (on time), patrol 20 s late: score 1 of 2
    gas     open         ack 10 s
    """
    ids: dict[str, str] = {}
    h.signal("B1-F12-Z3", device="SD-01")
    ids["real"] = real = h.only().id
    at(h, 5)
    h.signal("B1-F12-Z4", device="SD-01")
    at(h, 20)
    h.command("ack", real)
    at(h, 100)
    h.command("arrive", real, role="on_duty_patrol", who="张三")
    at(h, 110)
    h.command("decide", real, branch="verdict", option="confirmed")
    tick_at(h, 175)  # call_119 (due 170) escalates
    at(h, 176)
    fire_records(h, real, confirmed=True)
    at(h, 180)
    h.command("close", real, **CLOSE)

    at(h, 1000)
    h.signal("B1-F12-Z3", device="SD-01")
    ids["false1"] = false1 = h.only().id
    at(h, 1040)
    h.command("ack", false1)
    tick_at(h, 1181)  # verify (due 1180) missed
    at(h, 1240)
    h.command("arrive", false1, role="on_duty_patrol", who="张三")
    at(h, 1250)
    h.command("reject", false1, note="油烟")
    fire_records(h, false1)
    at(h, 1260)
    h.command("close", false1, **CLOSE)

    at(h, 2000)
    h.signal("B1-F12-Z3", device="SD-01")
    ids["false2"] = false2 = h.only().id
    at(h, 2001)
    h.signal("B1-F12-Z4", device="SD-01")
    at(h, 2002)
    h.signal("B1-F11-Z1", device=HOSTILE_DEVICE)
    at(h, 2090)
    h.command("ack", false2)
    at(h, 2100)
    h.command("reject", false2, note="灰尘")
    fire_records(h, false2)
    at(h, 2110)
    h.command("close", false2, **CLOSE)

    at(h, 2500)
    h.signal("B2-F3-Z1", device="SD-01", drill=True)
    ids["drill"] = drill = h.only().id
    at(h, 2530)
    h.command("ack", drill)
    tick_at(h, 2681)  # the drill's verify (due 2680) missed: not a real missed deadline
    at(h, 2700)
    h.command("arrive", drill, role="on_duty_patrol", who="李四")
    fire_records(h, drill)
    at(h, 2710)
    h.command("close", drill, **CLOSE)

    at(h, 3000)
    h.signal("G-B1-02", PointState.PREALARM)
    ids["gas"] = gas = h.only().id
    at(h, 3010)
    h.command("ack", gas)

    at(h, 4000)
    on_stored(h, "reopen", false2, "张主管", reason="同一探测器再次报警")
    return ids


@pytest.fixture(scope="module")
def stored(engine: Engine, site: SiteConfig,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    h = Harness(engine, site)
    ids = known_set(h)
    path = tmp_path_factory.mktemp("kpi") / "store.sqlite3"
    persist(h, path)
    return path, ids


def kpis(path: Path, since: float, until: float, site: SiteConfig | None = None) -> Kpis:
    with open_records(path, readonly=True) as records:
        return compute_kpis(records, since, until, site=site, now=T0 + 5000)


@pytest.fixture(scope="module")
def whole(stored: tuple[Path, dict[str, str]], site: SiteConfig) -> Kpis:
    return kpis(stored[0], T0 - 3600, T0 + 10 * DAY, site)


# ----------------------------------------------------------------------------- figures


def test_stat_uses_median_and_nearest_rank_p90() -> None:
    assert stat([]).count == 0
    s = stat([40, 10, 90, 20])
    assert (s.count, s.median, s.p90, s.max) == (4, 30, 90, 90)
    s = stat(range(1, 11))
    assert (s.median, s.p90, s.max) == (5.5, 9, 10)


def test_real_incidents_by_type_never_count_drills(whole: Kpis) -> None:
    assert whole.incidents == 4
    by_type = [(t.type, t.total, t.real, t.minor, t.false_alarm, t.undecided)
               for t in whole.by_type]
    assert by_type == [("fire", 3, 1, 0, 2, 0), ("gas_leak", 1, 0, 0, 0, 1)]
    assert whole.by_type[0].name.zh == "火警"
    assert whole.false_alarms == 2


def test_time_to_acknowledge(whole: Kpis) -> None:
    a = whole.ack
    assert (a.count, a.median, a.p90, a.max) == (4, 30, 90, 90)  # 10, 20, 40, 90
    assert whole.unacknowledged == 0


def test_time_on_scene_per_role(whole: Kpis) -> None:
    [patrol] = whole.arrivals
    assert (patrol.role, patrol.name.zh) == ("on_duty_patrol", "当值巡逻")
    assert (patrol.times.count, patrol.times.median, patrol.times.max) == (2, 170, 240)
    assert (patrol.timed, patrol.on_time, patrol.on_time_share) == (2, 1, 0.5)


def test_missed_deadlines_by_type_and_item(whole: Kpis) -> None:
    missed = [(m.type, m.kind, m.item, m.count) for m in whole.missed]
    assert missed == [("fire", "prompt", "call_119", 1), ("fire", "step", "verify", 1)]
    assert whole.missed_total == 2


def test_false_alarm_rate_per_device_flags_maintenance(whole: Kpis) -> None:
    devices = {d.device: (d.incidents, d.false_alarms, round(d.rate, 3), d.maintenance)
               for d in whole.devices}
    assert devices == {
        "B1-F12-Z3/SD-01": (3, 2, 0.667, True),  # two false alarms
        "B1-F12-Z4/SD-01": (2, 1, 0.5, True),  # half of two incidents
        f"B1-F11-Z1/{HOSTILE_DEVICE}": (1, 1, 1.0, False),  # one incident is not enough
        "G-B1-02": (1, 0, 0.0, False),
    }
    assert [d.device for d in whole.maintenance] == ["B1-F12-Z3/SD-01", "B1-F12-Z4/SD-01"]
    assert "B2-F3-Z1/SD-01" not in devices  # the drill's


def test_open_at_the_end_follows_closes_and_reopens(whole: Kpis,
                                                    stored: tuple[Path, dict[str, str]]
                                                    ) -> None:
    path, ids = stored
    assert [(o.id, o.drill) for o in whole.open_at_end] == [(ids["false2"], False),
                                                            (ids["gas"], False)]
    before_reopen = kpis(path, T0 - 3600, T0 + 3500)
    assert [o.id for o in before_reopen.open_at_end] == [ids["gas"]]
    before_gas = kpis(path, T0 - 3600, T0 + 2900)
    assert before_gas.open_at_end == ()
    assert before_gas.incidents == 3


def test_drills_apart_with_their_score(whole: Kpis, stored: tuple[Path, dict[str, str]]
                                       ) -> None:
    [drill] = whole.drills
    assert (drill.id, drill.met, drill.total, drill.percent) == (stored[1]["drill"], 1, 2, 50.0)
    assert whole.drill_average == 50.0


def test_the_period_selects_incidents_by_opening_time(stored: tuple[Path, dict[str, str]]
                                                      ) -> None:
    k = kpis(stored[0], T0 + 1500, T0 + 2400)
    assert k.incidents == 1
    assert (k.ack.count, k.ack.median) == (1, 90)
    assert k.missed == ()
    assert k.maintenance == ()  # one false alarm each, in one incident
    assert k.drills == ()
    empty = kpis(stored[0], T0 + 5 * DAY, T0 + 6 * DAY)
    assert (empty.incidents, empty.ack.count, empty.drill_average) == (0, 0, None)
    assert "无" in render_kpis_markdown(empty, "zh")


# ----------------------------------------------------------------------------- forms


def test_json_form(whole: Kpis) -> None:
    data = json.loads(json.dumps(kpis_to_json(whole), ensure_ascii=False))
    assert data["incidents"] == 4
    assert data["time_to_ack"] == {"count": 4, "median": 30, "p90": 90, "max": 90,
                                   "unacknowledged": 0}
    assert data["arrivals"][0]["on_time_share"] == 0.5
    assert data["missed_deadlines"]["total"] == 2
    flagged = [d["device"] for d in data["devices"] if d["maintenance"]]
    assert flagged == ["B1-F12-Z3/SD-01", "B1-F12-Z4/SD-01"]
    assert data["drills"]["average_score"] == 50.0
    assert data["drills"]["items"][0]["score"] == 50.0


def test_text_markdown_and_html(whole: Kpis) -> None:
    text = render_kpis_text(whole)
    assert "B1-F12-Z3/SD-01 (small-B1-F12-Z3): 2/3 66.7%  ← 需维保 maintenance" in text
    assert "median 30 s · p90 1 min 30 s · max 1 min 30 s" in text
    zh = render_kpis_markdown(whole, "zh")
    assert "| 实际事件（不含演练） | 4 |" in zh
    assert "| 火警 (fire) | 3 | 1 | 0 | 2 | 0 |" in zh
    assert "| B1-F12-Z3/SD-01 | small-B1-F12-Z3 | 3 | 2 | 66.7% | 是 |" in zh
    assert "| 当值巡逻 | 2 | 2分50秒 | 4分00秒 | 50.0% (1/2) |" in zh
    assert "平均得分 50.0%" in zh
    assert "<img" not in zh.replace("\\<img", "")
    en = render_kpis_markdown(whole, "en")
    assert "| Fire (fire) | 3 | 1 | 0 | 2 | 0 |" in en
    assert "| Fire | step | verify | 1 |" in en
    page = render_kpis_html(whole, "en")
    assert page.startswith("<!DOCTYPE html>")
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Flagged for maintenance" in page
    assert "<script" not in page
    assert "误报率" in render_kpis_html(whole, "zh")


# ----------------------------------------------------------------------------- CLI


def test_period_arithmetic() -> None:
    now = T0

    def midnight(day: dt.date) -> float:
        # the site's days (Asia/Shanghai), whatever zone the machine is in
        return dt.datetime(day.year, day.month, day.day,
                           tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()

    jan = dt.date(2027, 1, 1)
    assert period(None, None, None, now) == (now - 30 * DAY, now)
    assert period(None, None, 7, now) == (now - 7 * DAY, now)
    assert period(jan, dt.date(2027, 1, 31), None, now) == (midnight(jan),
                                                            midnight(dt.date(2027, 2, 1)))
    assert period(None, dt.date(2027, 1, 31), 7, now) == (midnight(dt.date(2027, 1, 25)),
                                                          midnight(dt.date(2027, 2, 1)))
    assert period(jan, None, 7, now) == (midnight(jan), midnight(dt.date(2027, 1, 8)))
    assert period(jan, None, None, now) == (midnight(jan), now)


def test_kpi_command_end_to_end(stored: tuple[Path, dict[str, str]], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = str(stored[0])
    day = dt.date.fromisoformat(site_time.wall(T0)[:10])
    since, until = str(day - dt.timedelta(days=1)), str(day + dt.timedelta(days=1))
    assert run_cli(["kpi", "--store", path, "--since", since, "--until", until,
                    "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["incidents"], data["false_alarms"], len(data["drills"]["items"])) == (4, 2, 1)
    assert run_cli(["kpi", "--store", path, "--since", since, "--until", until]) == 0
    assert "需维保 maintenance" in capsys.readouterr().out
    target = tmp_path / "kpi.html"
    assert run_cli(["kpi", "--store", path, "--until", until, "--days", "3", "--format",
                    "html", "--lang", "en", "-o", str(target)]) == 0
    assert "False alarms per device" in target.read_text(encoding="utf-8")
    assert str(target) in capsys.readouterr().out
    assert run_cli(["kpi", "--store", path, "--format", "md", "-o",
                    str(tmp_path / "kpi.md")]) == 0
    assert (tmp_path / "kpi.md").read_text(encoding="utf-8").startswith("# 运行指标")
    assert run_cli(["kpi", "--store", path, "--since", until, "--until", since]) == 7
    assert run_cli(["kpi", "--store", path, "--since", since, "--until", until,
                    "--days", "2"]) == 7
    assert run_cli(["kpi", "--store", str(tmp_path / "none.sqlite3")]) == 8
    with pytest.raises(SystemExit) as exited:
        run_cli(["kpi", "--store", path, "--days", "0"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        run_cli(["kpi", "--store", path, "--since", "2027-13-01"])
