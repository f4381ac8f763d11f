"""The names of things an event speaks of (stages, steps, prompts, branches, options, records,
actions, actuators, roles): the site's and the playbook's, then what the events themselves
carry, so that an incident of a playbook changed or no longer loaded still reads in words."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.config.site import SiteConfig
from gateway.domain.events import EventKind
from gateway.domain.model import (
    Event,
    Location,
    Text,
)
from gateway.domain.zones import Zones
from gateway.playbook.definition import Playbook
from gateway.present.words import (
    same,
    short,
    sval,
)

# the parts of a location code after the site's id: -B<building>-F<floor>-Z<zone>-U<unit>
_LABEL = re.compile(r"(?:-B(?P<building>[^-]+))?(?:-F(?P<floor>[^-]+))?(?:-Z(?P<zone>.+?))?"
                    r"(?:-U(?P<unit>[^-]+))?")


@dataclass(slots=True)
class Names:
    """Display texts by id, from the playbook and the site, then from the events."""

    stages: dict[str, Text] = field(default_factory=dict)
    steps: dict[str, Text] = field(default_factory=dict)
    prompts: dict[str, Text] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    branches: dict[str, Text] = field(default_factory=dict)
    options: dict[tuple[str, str], Text] = field(default_factory=dict)
    records: dict[str, Text] = field(default_factory=dict)
    actions: dict[str, Text] = field(default_factory=dict)
    actuators: dict[str, Text] = field(default_factory=dict)
    roles: dict[str, Text] = field(default_factory=dict)
    points: dict[str, Text] = field(default_factory=dict)
    people: dict[str, Text] = field(default_factory=dict)  # the site's, by roster id
    zones: Zones = field(default_factory=Zones)
    site_id: str = ""
    site_name: Text | None = None
    playbook: Text | None = None

    def place(self, label: str) -> Text:
        """A location code as events carry it (``demo-B1-F12-Z3``) in words: 1号楼12层3防区."""
        if not label:
            return same("")
        if label == self.site_id and self.site_name is not None:
            return self.site_name
        rest = label.removeprefix(self.site_id) if self.site_id else label.partition("-")[2]
        match = _LABEL.fullmatch(rest)
        if match is None:
            return same(label)
        return self.zones.place(Location(self.site_id or label, *(
            match.group(k) or "" for k in ("building", "floor", "zone", "unit"))))

    def role(self, role_id: str) -> Text:
        return self.roles.get(role_id) or same(role_id)

    def step(self, step_id: str) -> Text:
        return short(self.steps[step_id]) if step_id in self.steps else same(step_id)

    def prompt(self, prompt_id: str) -> Text:
        return short(self.prompts[prompt_id]) if prompt_id in self.prompts \
            else same(prompt_id)

    def branch(self, branch_id: str) -> Text:
        return self.branches.get(branch_id) or same(branch_id)

    def option(self, branch_id: str, option_id: str) -> Text:
        return self.options.get((branch_id, option_id)) or same(option_id)

    def record(self, record_id: str) -> Text:
        return self.records.get(record_id) or same(record_id)

    def stage(self, stage_id: str) -> Text:
        return self.stages.get(stage_id) or same(stage_id)


def names_of(events: Sequence[Event], playbook: Playbook | None,
             site: SiteConfig | None) -> Names:
    """The names of things: the site's and the playbook's, then what the events carry (a
    playbook no longer loaded, or changed since, leaves its texts in the events)."""
    n = Names()
    if site is not None:
        n.roles.update(site.roles)
        n.actuators.update({a.id: a.name for a in site.actuators.values()})
        n.points.update({p.id: p.name for p in site.points.values()})
        n.people.update({p.id: p.name for p in site.people.values()})
        n.zones, n.site_id, n.site_name = site.zones, site.site_id, site.site_name
    if playbook is not None:
        _playbook_names(n, playbook)
    for e in events:
        learn = _LEARN.get(e.kind)
        if learn is not None:
            learn(n, e.data)
    return n


def command_name(site: SiteConfig | None, actuator_id: str, command: str) -> Text:
    """An actuator's command by its name (``recall`` → 迫降), or as it is when unknown."""
    actuator = site.actuators.get(actuator_id) if site is not None else None
    found = actuator.commands.get(command) if actuator is not None else None
    return found.name if found is not None else same(command)


def _playbook_names(n: Names, playbook: Playbook) -> None:
    n.playbook = playbook.name
    for stage in playbook.stages:
        n.stages[stage.id] = stage.name
        n.steps.update({s.id: s.text for s in stage.steps})
        n.actions.update({a.id: a.name for a in stage.actions})
        for p in stage.prompts:
            n.prompts[p.id] = p.text
            n.policies[p.id] = p.on_timeout or ""
            n.actions.update({a.id: a.name for a in p.actions})
        if stage.branch is not None:
            b = stage.branch
            n.branches[b.id] = b.question
            n.options.update({(b.id, o.id): o.label for o in b.options})
        n.records.update({r.id: r.label for r in stage.records})
    n.records.update({r.id: r.label for r in playbook.records})


def _texts(d: Mapping[str, Any], zh: str, en: str) -> Text | None:
    """The text of an event in its two fields, when it carries one."""
    return Text(sval(d, zh), sval(d, en)) if d.get(zh) else None


def _learn_opened(n: Names, d: Mapping[str, Any]) -> None:
    if n.playbook is None:
        n.playbook = _texts(d, "name_zh", "name_en")


def _learn_stage(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "stage_name_zh", "stage_name_en")) is not None:
        n.stages[sval(d, "stage")] = text


def _learn_step(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "text_zh", "text_en")) is not None:
        n.steps[sval(d, "step")] = text


def _learn_prompt(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "text_zh", "text_en")) is not None:
        n.prompts[sval(d, "prompt")] = text
    if d.get("on_timeout"):
        n.policies[sval(d, "prompt")] = sval(d, "on_timeout")


def _learn_branch(n: Names, d: Mapping[str, Any]) -> None:
    branch = sval(d, "branch")
    if (text := _texts(d, "question_zh", "question_en")) is not None:
        n.branches[branch] = text
    for option in d.get("options") or ():
        if isinstance(option, dict) and option.get("id"):
            n.options[(branch, str(option["id"]))] = Text(sval(option, "zh"), sval(option, "en"))


def _learn_decision(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "label_zh", "label_en")) is not None:
        n.options[(sval(d, "branch"), sval(d, "option"))] = text


def _learn_record(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "label_zh", "label_en")) is not None:
        n.records[sval(d, "field")] = text


def _learn_action(n: Names, d: Mapping[str, Any]) -> None:
    if (text := _texts(d, "name_zh", "name_en")) is not None:
        n.actions[sval(d, "action")] = text
        if (actuator := _texts(d, "actuator_zh", "actuator_en")) is not None:
            n.actuators[sval(d, "actuator")] = actuator


def _learn_role(n: Names, d: Mapping[str, Any]) -> None:
    if sval(d, "to") not in n.roles and (text := _texts(d, "to_zh", "to_en")) is not None:
        n.roles[sval(d, "to")] = text


_LEARN: dict[EventKind, Callable[[Names, Mapping[str, Any]], None]] = {
    EventKind.INCIDENT_OPENED: _learn_opened, EventKind.STAGE_ENTERED: _learn_stage,
    EventKind.STEP_STARTED: _learn_step, EventKind.PROMPT_RAISED: _learn_prompt,
    EventKind.BRANCH_RAISED: _learn_branch, EventKind.BRANCH_DECIDED: _learn_decision,
    EventKind.RECORD: _learn_record, EventKind.ACTION_REQUESTED: _learn_action,
    EventKind.ACTION_SKIPPED: _learn_action, EventKind.ESCALATED: _learn_role,
    EventKind.NOTIFIED: _learn_role,
    # an action commanded by hand names itself on each of its events (a site's is read alone)
    EventKind.ACTION_SENT: _learn_action, EventKind.ACTION_DONE: _learn_action,
    EventKind.ACTION_FAILED: _learn_action, EventKind.ACTION_WITHHELD: _learn_action,
}
