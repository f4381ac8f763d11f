"""A shipped playbook made to fit a site that lacks some of its equipment: an auto-action of an
actuator kind the site has none of (no PA, no motorised gas valve) becomes a prompt to do it by
hand, and loading says so as a warning, instead of refusing the whole playbook. A site with only
gas detectors keeps ``fire.yaml`` as shipped, and nobody adds fake actuators to make it load.

An action that names its actuators, or a kind the site has, is left as it is (check still
refuses an actuator that does not exist or a command it lacks)."""

from __future__ import annotations

from dataclasses import replace

from gateway.config.site import SiteConfig
from gateway.config.yamlfile import LineIndex, format_path
from gateway.domain.model import ActuatorKind, Text
from gateway.errors import Problem
from gateway.playbook.definition import ActionDef, Playbook, PromptDef, StageDef

KIND_WORDS = {
    ActuatorKind.ELEVATOR: Text("电梯", "elevators"),
    ActuatorKind.GAS_VALVE: Text("燃气阀", "gas valves"),
    ActuatorKind.WATER_VALVE: Text("水阀", "water valves"),
    ActuatorKind.POWER_BREAKER: Text("电源开关", "power breakers"),
    ActuatorKind.PA_SYSTEM: Text("应急广播", "public address"),
    ActuatorKind.SOUNDER: Text("声光报警器", "sounders"),
    ActuatorKind.GENERIC: Text("联动设备", "actuators"),
}
BY_HAND_TIMEOUT = 300.0  # asked again (escalated) after 5 minutes unanswered


def _missing(action: ActionDef, site: SiteConfig) -> bool:
    kind = action.actuator_kind
    return not action.actuators and kind is not None and not any(
        a.kind is kind for a in site.actuators.values())


def _by_hand(action: ActionDef, escalate_to: str | None) -> PromptDef:
    kind = KIND_WORDS.get(action.actuator_kind or ActuatorKind.GENERIC, KIND_WORDS[
        ActuatorKind.GENERIC])
    return PromptDef(
        id=f"by_hand_{action.id}",
        text=Text(f"本项目没有{kind.zh}联动：请人工完成「{action.name.zh}」，完成后回答“是”。",
                  f"This site has no {kind.en} to command: {action.name.en} by hand, then "
                  "answer yes."),
        call=None, timeout=BY_HAND_TIMEOUT,
        on_timeout="escalate" if escalate_to else "wait", escalate_to=escalate_to)


def _note(prompt: PromptDef, dropped: list[ActionDef], escalate_to: str | None) -> PromptDef:
    names = Text("、".join(a.name.zh for a in dropped), ", ".join(a.name.en for a in dropped))
    left = tuple(a for a in prompt.actions if a not in dropped)
    if not left and prompt.on_timeout == "act":  # nothing to do by itself: a person is asked
        escalate_to = prompt.escalate_to or escalate_to
        prompt = replace(prompt, on_timeout="escalate" if escalate_to else "wait",
                         escalate_to=escalate_to)
    return replace(prompt, actions=left,
                   text=Text(f"{prompt.text.zh}（本项目无此联动设备：回答“是”后请人工完成"
                             f"「{names.zh}」）",
                             f"{prompt.text.en} (this site cannot do it by itself: after "
                             f"yes, {names.en} by hand)"))


def fit_to_site(playbook: Playbook, site: SiteConfig,
                lines: LineIndex) -> tuple[Playbook, list[Problem]]:
    """The playbook with what the site cannot do by itself turned into prompts to do it by
    hand, and a warning for each."""
    warnings: list[Problem] = []
    escalate = playbook.commander if playbook.commander in site.roles else None

    def _warn(at: tuple[str | int, ...], action: ActionDef) -> Problem:
        kind = action.actuator_kind.value if action.actuator_kind else "?"
        return Problem(playbook.file, format_path(at), f"no actuator of kind {kind!r} on this "
                       f"site: action {action.id!r} becomes a prompt to do it by hand",
                       lines.line(at))

    stages: list[StageDef] = []
    for si, stage in enumerate(playbook.stages):
        prompts: list[PromptDef] = []
        for pi, prompt in enumerate(stage.prompts):
            dropped = [a for a in prompt.actions if _missing(a, site)]
            for a in dropped:
                warnings.append(_warn(("stages", si, "prompts", pi, "actions"), a))
            prompts.append(_note(prompt, dropped, escalate) if dropped else prompt)
        actions: list[ActionDef] = []
        for ai, action in enumerate(stage.actions):
            if not _missing(action, site):
                actions.append(action)
                continue
            warnings.append(_warn(("stages", si, "actions", ai), action))
            prompts.append(_by_hand(action, action.escalate_to or escalate))
        stages.append(replace(stage, actions=tuple(actions), prompts=tuple(prompts)))
    if not warnings:
        return playbook, []
    return replace(playbook, stages=tuple(stages)), warnings

