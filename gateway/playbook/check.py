"""What the schema cannot see in a playbook: names that must exist in the site config,
stages that can never be entered, prompts without a timeout policy, branch options leading
nowhere. Each problem names the file, the line and the field."""

from __future__ import annotations

from gateway.config.schema import unknown_name
from gateway.config.site import SiteConfig
from gateway.config.yamlfile import LineIndex, format_path
from gateway.errors import Problem
from gateway.playbook.definition import (
    ActionDef,
    BranchDef,
    OptionDef,
    Playbook,
    PromptDef,
    StageDef,
)


class _Checker:
    def __init__(self, playbook: Playbook, lines: LineIndex, site: SiteConfig) -> None:
        self.playbook = playbook
        self.lines = lines
        self.site = site
        self.problems: list[Problem] = []

    def problem(self, loc: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.playbook.file, format_path(loc), message,
                                     self.lines.line(loc)))

    def time(self, loc: tuple[str | int, ...], seconds: float | None, what: str) -> None:
        """A deadline or timeout of zero has passed when it starts."""
        if seconds is not None and seconds <= 0:
            self.problem(loc, f"a {what} of 0 has passed before anyone can act: give the time "
                         "allowed, e.g. 3m (or leave it out for none)")

    def role(self, loc: tuple[str | int, ...], role: str | None) -> None:
        if role and role not in self.site.roles:
            self.problem(loc, unknown_name("role", role, self.site.roles))

    def action(self, loc: tuple[str | int, ...], action: ActionDef) -> None:
        self.role((*loc, "escalate_to"), action.escalate_to)
        if action.actuators:
            targets = []
            for index, actuator_id in enumerate(action.actuators):
                actuator = self.site.actuators.get(actuator_id)
                if actuator is None:
                    self.problem((*loc, "actuators", index),
                                 unknown_name("actuator", actuator_id, self.site.actuators))
                else:
                    targets.append(actuator)
        elif action.actuator_kind is not None:
            targets = [a for a in self.site.actuators.values()
                       if a.kind is action.actuator_kind]
            if not targets:
                self.problem((*loc, "actuator_kind"), f"no actuator of kind "
                             f"{action.actuator_kind.value!r} in {self.site.file}")
        else:
            targets = []
            self.problem(loc, "an action names its actuators or an actuator_kind")
        for actuator in targets:
            if action.command not in actuator.commands:
                self.problem((*loc, "command"),
                             f"actuator {actuator.id} has no command {action.command!r} "
                             f"(it has: {', '.join(sorted(actuator.commands))})")


def check_playbook(playbook: Playbook, lines: LineIndex, site: SiteConfig) -> list[Problem]:
    """What the schema cannot see: names that must exist in the site config, stages that can
    never be entered, prompts without a timeout policy, branch options leading nowhere."""
    c = _Checker(playbook, lines, site)
    c.role(("commander",), playbook.commander)
    trigger = playbook.trigger
    if trigger is not None and trigger.points is not None:
        for index, point_id in enumerate(sorted(trigger.points)):
            if point_id not in site.points:
                c.problem(("trigger", "points", index),
                          unknown_name("point", point_id, site.points))
    for fi, follow in enumerate(playbook.follow_up):
        c.role(("follow_up", fi, "role"), follow.role)
    _check_ids(c)
    reached_by_branch: set[str] = set()
    for si, stage in enumerate(playbook.stages):
        _check_stage(c, si, stage)
        if stage.branch is not None:
            reached_by_branch |= _check_branch(c, si, stage.branch)
    _check_entries(c, reached_by_branch)
    return c.problems


def _check_stage(c: _Checker, si: int, stage: StageDef) -> None:
    for role_index, role in enumerate(stage.notify):
        c.role(("stages", si, "notify", role_index), role)
    for ti, step in enumerate(stage.steps):
        c.role(("stages", si, "steps", ti, "role"), step.role)
        c.role(("stages", si, "steps", ti, "escalate_to"), step.escalate_to)
        c.time(("stages", si, "steps", ti, "deadline"), step.deadline, "deadline")
    for ai, action in enumerate(stage.actions):
        c.action(("stages", si, "actions", ai), action)
    for pi, prompt in enumerate(stage.prompts):
        _check_prompt(c, ("stages", si, "prompts", pi), prompt)


def _check_branch(c: _Checker, si: int, branch: BranchDef) -> set[str]:
    """A stage's branch; the stages its options lead to."""
    loc: tuple[str | int, ...] = ("stages", si, "branch")
    c.role((*loc, "role"), branch.role)
    c.role((*loc, "escalate_to"), branch.escalate_to)
    c.time((*loc, "deadline"), branch.deadline, "deadline")
    if branch.escalate_to and branch.deadline is None:
        c.problem((*loc, "escalate_to"), "escalate_to needs a deadline to escalate at")
    reached = set()
    for oi, option in enumerate(branch.options):
        if _check_option(c, si, (*loc, "options", oi), option):
            reached.add(str(option.goto))
    verifications = [o.verification for o in branch.options if o.verification]
    if len(verifications) != len(set(verifications)):
        c.problem((*loc, "options"), "two options answer the same verification")
    return reached


def _check_option(c: _Checker, si: int, loc: tuple[str | int, ...], option: OptionDef) -> bool:
    """A branch option; whether it leads on to a stage that is there to enter."""
    playbook = c.playbook
    if option.goto is None:
        if option.verdict is None:
            c.problem(loc, f"branch option {option.id!r} has no outcome: give it 'goto' (the "
                      "stage it leads to) or 'verdict' (what the incident was)")
        return False
    stage_ids = {s.id for s in playbook.stages}
    if option.goto not in stage_ids:
        c.problem((*loc, "goto"), unknown_name("stage", option.goto, stage_ids))
        return False
    if playbook.stage_index(option.goto) <= si:
        c.problem((*loc, "goto"), f"option {option.id!r} goes back to stage "
                  f"{option.goto!r}; a branch only leads forward")
        return False
    target = playbook.stage(option.goto)
    if not (target.steps or target.actions or target.prompts or target.branch
            or target.records or target.verdict):
        c.problem((*loc, "goto"), f"option {option.id!r} leads to stage {option.goto!r}, "
                  "which does nothing: give it steps, actions, prompts, records or a verdict")
    return True


def _check_entries(c: _Checker, reached_by_branch: set[str]) -> None:
    """Every stage after the first is entered somehow: by devices, by an operator, or by a
    branch option."""
    playbook = c.playbook
    for si, stage in enumerate(playbook.stages[1:], start=1):
        enter = stage.enter
        automatic = enter is not None and (enter.operator or enter.state is not None
                                           or enter.independent_devices is not None)
        if automatic and playbook.trigger is None and enter is not None and not enter.operator:
            c.problem(("stages", si, "enter"), f"stage {stage.id!r} waits for devices, but the "
                      "playbook has no trigger, so no device ever joins its incidents")
        elif not automatic and stage.id not in reached_by_branch:
            c.problem(("stages", si, "id"), f"stage {stage.id!r} can never be entered (and so "
                      "its steps never run): give it 'enter' or point a branch option at it")


def _check_ids(c: _Checker) -> None:
    playbook = c.playbook
    seen_stages: set[str] = set()
    seen: dict[str, set[str]] = {"steps": set(), "actions": set(), "prompts": set(),
                                 "records": {r.id for r in playbook.records}, "branch": set()}
    for si, stage in enumerate(playbook.stages):
        if stage.id in seen_stages:
            c.problem(("stages", si, "id"), f"duplicate stage id {stage.id!r}")
        seen_stages.add(stage.id)
        sections: list[tuple[str, tuple[str, ...]]] = [
            ("steps", tuple(s.id for s in stage.steps)),
            ("actions", tuple(a.id for a in stage.actions)),
            ("prompts", tuple(p.id for p in stage.prompts)),
            ("records", tuple(r.id for r in stage.records))]
        for section, ids in sections:
            for ii, item_id in enumerate(ids):
                if item_id in seen[section]:
                    c.problem(("stages", si, section, ii, "id"),
                              f"duplicate {section.rstrip('s')} id {item_id!r} in this playbook")
                seen[section].add(item_id)
        if stage.branch is not None:
            if stage.branch.id in seen["branch"]:
                c.problem(("stages", si, "branch", "id"),
                          f"duplicate branch id {stage.branch.id!r}")
            seen["branch"].add(stage.branch.id)
            option_ids = [o.id for o in stage.branch.options]
            if len(option_ids) != len(set(option_ids)):
                c.problem(("stages", si, "branch", "options"), "duplicate option ids")


def _check_prompt(c: _Checker, loc: tuple[str | int, ...], prompt: PromptDef) -> None:
    if prompt.call and prompt.call not in c.site.contacts:
        c.problem((*loc, "call"), unknown_name("contact", prompt.call, c.site.contacts))
    c.time((*loc, "timeout"), prompt.timeout, "timeout")
    if prompt.timeout is None or prompt.on_timeout is None:
        c.problem(loc, f"prompt {prompt.id!r} has no timeout policy: give it 'timeout' and "
                  "'on_timeout' (act, escalate or wait)")
    if prompt.on_timeout == "act" and not prompt.actions:
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} acts on timeout but has no "
                  "actions to take")
    if prompt.on_timeout == "escalate" and not prompt.escalate_to:
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} escalates on timeout: say to "
                  "whom (escalate_to)")
    c.role((*loc, "escalate_to"), prompt.escalate_to)
    if prompt.second_confirmation and not prompt.actions:
        c.problem((*loc, "second_confirmation"), "a second confirmation guards actions; this "
                  "prompt has none")
    if prompt.second_confirmation and prompt.on_timeout == "act":
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} needs a second operator's "
                  "confirmation, so it cannot act on its own at timeout: escalate or wait")
    for ai, action in enumerate(prompt.actions):
        c.action((*loc, "actions", ai), action)
