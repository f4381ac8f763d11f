"""The fixtures of the core tests: the small site of their own, an engine with the shipped
playbooks on it, and a harness driving it on a virtual clock. A test module that needs other
playbooks defines its own ``engine``."""

from __future__ import annotations

import pytest

from gateway.config.site import SiteConfig
from gateway.engine.machine import Engine
from gateway.playbook.load import load_playbooks
from tests.support.engine import Harness
from tests.support.sites import small_site


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return small_site()


@pytest.fixture(scope="module")
def engine(site: SiteConfig) -> Engine:
    return Engine(site, load_playbooks(site.playbook_dir, site))


@pytest.fixture
def h(engine: Engine, site: SiteConfig) -> Harness:
    return Harness(engine, site)
