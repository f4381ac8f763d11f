"""Shipped playbooks fit a site that lacks some of their equipment: an auto-action of an
actuator kind the site has none of becomes a prompt to do it by hand, with a warning, instead
of the playbook being refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.cli.main import main
from gateway.config.site import load_config
from gateway.errors import Problem
from gateway.playbook.load import load_playbooks
from tests.support.processes import ROOT

SMALL = ROOT / "tests" / "support" / "sites" / "small.yaml"


def without(tmp_path: Path, *kinds: str) -> Path:
    """The small site without its actuators of these kinds, beside the shipped playbooks."""
    site = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    site["actuators"] = [a for a in site["actuators"] if a["kind"] not in kinds]
    site["playbooks"] = str(ROOT / "playbooks")
    site["store"] = {"path": str(tmp_path / "store.sqlite3")}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


def test_a_site_without_pa_or_gas_valves_loads_every_shipped_playbook(tmp_path: Path) -> None:
    site = load_config(without(tmp_path, "pa_system", "gas_valve"), environ={})
    warnings: list[Problem] = []
    playbooks = load_playbooks(site.playbook_dir, site, warnings)
    assert {"fire", "gas_leak", "earthquake"} <= set(playbooks)
    said = {(w.file.rsplit("/", 1)[-1], w.message) for w in warnings}
    assert ("gas_leak.yaml", "no actuator of kind 'gas_valve' on this site: action "
            "'close_gas_valve' becomes a prompt to do it by hand") in said
    assert all(w.line is not None for w in warnings)
    gas = playbooks["gas_leak"]
    prompts = {p.id: p for s in gas.stages for p in s.prompts}
    by_hand = prompts["by_hand_close_gas_valve"]
    assert "请人工完成" in by_hand.text.zh
    assert (by_hand.timeout, by_hand.on_timeout, by_hand.escalate_to) == (
        300.0, "escalate", "duty_supervisor")
    assert not any(a.actuator_kind and a.actuator_kind.value == "gas_valve"
                   for s in gas.stages for a in s.actions)
    fire_prompts = {p.id: p for s in playbooks["fire"].stages for p in s.prompts}
    start_pa = fire_prompts["start_pa"]  # asked still; done by hand after yes, never by itself
    assert (start_pa.actions, start_pa.on_timeout) == ((), "escalate")
    assert "人工完成" in start_pa.text.zh
    # where the site has the kind, nothing changes
    full = load_config(SMALL, environ={})
    kept: list[Problem] = []
    load_playbooks(full.playbook_dir, full, kept)
    assert kept == []


def test_check_says_what_is_done_by_hand(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = without(tmp_path, "gas_valve")
    assert main(["check", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "warning" in out
    assert "'close_gas_valve' becomes a prompt to do it by hand" in out
