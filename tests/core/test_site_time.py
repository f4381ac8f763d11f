"""The site's clock: times shown, typed and printed in the zone the site config names, whatever
zone the server runs in; times travel as ISO 8601 with the offset."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.config.site import load_config
from gateway.domain import site_time
from gateway.engine.workflow import parse_time
from gateway.errors import CommandError, ConfigSchemaError
from tests.support.processes import ROOT
from tests.support.sites import site_files

AT = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC = 16:00:00 in Shanghai


def test_times_are_shown_on_the_sites_clock() -> None:
    assert site_time.wall(AT) == "2027-01-15 16:00:00"
    assert site_time.iso(AT) == "2027-01-15T16:00:00+08:00"
    assert site_time.offset(AT) == "UTC+08:00"
    site_time.use("Europe/Berlin")
    assert site_time.wall(AT, date=False) == "09:00:00"
    assert site_time.offset(AT) == "UTC+01:00"
    assert site_time.offset(AT + 180 * 86400) == "UTC+02:00"  # summer time


def test_typed_times_are_read_on_the_sites_clock_unless_they_say_their_offset() -> None:
    assert parse_time("16:00", AT) == AT
    assert parse_time("15:59:30", AT) == AT - 30
    assert parse_time("2027-01-15 16:00", AT) == AT
    assert parse_time("2027-01-15T16:00:00", AT) == AT  # a datetime-local input, no offset
    assert parse_time("2027-01-15T16:00:00+08:00", AT) == AT
    assert parse_time("2027-01-15T08:00:00Z", AT) == AT
    assert parse_time("2027-01-15T03:00:00-05:00", AT) == AT  # a browser in New York
    assert parse_time("now - 90s", AT) == AT - 90
    with pytest.raises(CommandError, match="2026-11-25T14:05:00"):
        parse_time("at four", AT)
    with pytest.raises(CommandError, match="not a time"):
        parse_time("25:61", AT)


def test_stored_times_are_readable_and_other_text_is_left_alone() -> None:
    assert site_time.readable("2027-01-15T08:00:00+00:00") == "2027-01-15 16:00:00"
    assert site_time.readable("2027-01-15T16:00:00+08:00") == "2027-01-15 16:00:00"
    assert site_time.readable("2027-01-15 16:00:00") == "2027-01-15 16:00:00"  # older stores
    assert site_time.readable("厨房油锅起火") == "厨房油锅起火"
    assert site_time.readable("2027-13-45T99:00:00+08:00") == "2027-13-45T99:00:00+08:00"


def test_the_site_config_names_its_zone_and_a_wrong_name_is_refused(tmp_path: Path) -> None:
    config = site_files(tmp_path)
    named = config.read_text(encoding="utf-8")
    assert "  timezone: Asia/Shanghai" in named
    text = re.sub(r"\n  timezone: .*", "", named)
    config.write_text(text, encoding="utf-8")
    assert load_config(config).timezone == "Asia/Shanghai"  # the default
    config.write_text(text.replace("site:\n", "site:\n  timezone: Asia/Urumqi\n", 1),
                      encoding="utf-8")
    assert load_config(config).timezone == "Asia/Urumqi"
    assert site_time.wall(AT, date=False) == "14:00:00"
    config.write_text(text.replace("site:\n", "site:\n  timezone: Beijing\n", 1),
                      encoding="utf-8")
    with pytest.raises(ConfigSchemaError, match=r"site.timezone.*'Beijing' is not a time zone"):
        load_config(config)


def test_a_server_in_utc_speaks_the_sites_time() -> None:
    """The process's own zone (TZ) does not change what the site's clock says."""
    probe = textwrap.dedent("""
        from gateway.domain import site_time
        from gateway.engine.workflow import parse_time
        print(site_time.wall(1_800_000_000.0), parse_time("16:00", 1_800_000_000.0))
    """)
    for zone in ("UTC", "America/New_York", "Asia/Shanghai"):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True, cwd=ROOT, env={**os.environ, "TZ": zone}).stdout
        assert out.split() == ["2027-01-15", "16:00:00", "1800000000.0"], zone

