"""An actuator commanded by hand from the console's points page, in Debian's chromium: the
operator presses the elevator's "recall", the page asks for a confirmation that names the car
and the command and will not send it without a reason, and the row then follows the command
live, from sent to confirmed by the car's feedback; a tester sees no buttons outside a drill.
(The daemon and its users as tests/e2e/test_console_browser.py makes them.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.test_console_browser import CHROMIUM, Console, running_console, screenshot_dir
from tests.support.sites import fire_payload

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    assert CHROMIUM.exists(), "Debian's chromium is not installed (.ci/setup --test)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        try:
            with running_console(tmp_path, browser) as made:
                yield made
                assert made.script_errors == []
                assert made.dialogs == []  # asked on the page, never by window.confirm
        finally:
            browser.close()


def test_an_operator_recalls_a_car_from_the_points_page_and_sees_it_confirmed(
        console: Console) -> None:
    tester = console.login("test1")
    tester.locator(".nav-link[data-view=points]").click()
    tester.locator("#sec-actuators summary").click()
    car = tester.locator("tr[data-actuator='ELV-B1-L1']")
    expect(car.locator(".chip[data-command=recall]")).to_be_visible()
    expect(car.locator("button[data-action=actuate]")).to_have_count(0)  # not outside a drill

    page = console.login("op1")
    page.locator(".nav-link[data-view=points]").click()
    page.locator("#sec-actuators summary").click()
    car = page.locator("tr[data-actuator='ELV-B1-L1']")
    car.locator("button[data-action=actuate][data-command=recall]").click()
    ask = car.locator(".act-confirm")
    expect(ask).to_contain_text("确认对「1号楼1号电梯」手动下达「迫降」指令？")
    expect(ask).to_contain_text("1号楼1号电梯迫降到位")  # its feedback point, by name
    ask.locator("button[data-action=actuate-send]").click()
    expect(ask.locator(".err")).to_contain_text("请说明下达指令的原因")  # nothing sent
    ask.locator("input.act-reason").fill("轿厢内有烟味，先行迫降")
    car.screenshot(path=str(screenshot_dir() / "console-actuate-confirm.png"))
    ask.locator("button[data-action=actuate-send]").click()
    expect(car.locator(".act-confirm")).to_have_count(0)
    expect(car.locator(".act-status")).to_have_text("已发送，等待设备确认")
    expect(car.locator(".act-by")).to_contain_text("手动：王芳，原因：轿厢内有烟味，先行迫降")

    console.publish("demo/elevator/b1/l1/status", json.dumps(
        {"floor": 1, "doors": "open", "mode": "fire_recall", "recalled": True}).encode())
    expect(car.locator(".act-status")).to_have_text("已完成（设备确认）")
    expect(car.locator(".act-detail")).to_contain_text("反馈已到：1号楼1号电梯迫降到位 = 是")
    page.locator("#sec-actuators").screenshot(path=str(screenshot_dir() / "console-actuate.png"))

    # for an incident: one of its actions, on its page, said to be by hand and by whom
    console.publish("demo/fire/b1/f12/z3", fire_payload("SD-01"))
    expect(page.locator("#nav-unacked")).to_have_text("1")
    other = page.locator("tr[data-actuator='ELV-B1-L2']")
    other.locator("button[data-action=actuate][data-command=out_of_service]").click()
    ask = other.locator(".act-confirm")
    incident_id = ask.locator("select.act-incident option").nth(1).get_attribute("value")
    assert incident_id is not None
    ask.locator("select.act-incident").select_option(incident_id)
    ask.locator("input.act-reason").fill("消防电梯待命")
    ask.locator("button[data-action=actuate-send]").click()
    expect(other.locator(".act-confirm")).to_have_count(0)
    expect(other.locator(f"a[href='#/incident/{incident_id}']")).to_be_visible()
    other.locator(f"a[href='#/incident/{incident_id}']").click()
    action = page.locator(".card-actions li.action").first
    expect(action.locator(".action-name")).to_have_text("手动停止服务")
    expect(action.locator(".action-by")).to_contain_text("手动：王芳，原因：消防电梯待命")
