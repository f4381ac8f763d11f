"""Playbook stages: entering one (its steps, actions, prompts, branch and people notified),
the stages devices lead to as they join, and the facts of outside calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway.domain.events import Escalation, EventKind, StageReason
from gateway.domain.incident import BranchState, DeviceRef, Incident, PromptState, StepState
from gateway.domain.model import BranchStatus, PromptStatus, StepStatus
from gateway.engine.state import Tx, location_key
from gateway.playbook.definition import OptionDef, Playbook, StageDef

if TYPE_CHECKING:
    from gateway.engine.machine import Engine

# what a StageReason is said with, on the events it explains
_REASON_PARTICULARS = ("point", "state", "count", "within", "by_branch", "by_option")


class Stages:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site

    def refresh_calls(self, tx: Tx, playbook: Playbook, incident: Incident) -> None:
        """The facts of the incident's outside calls name every place in alarm: a new place
        is said again (the 119 call's "where")."""
        for state in incident.prompts:
            definition = playbook.prompt(state.stage, state.id)
            if definition is None or not definition.call:
                continue
            tx.event(incident, EventKind.CALL_FACTS_UPDATED, prompt=state.id,
                     call=self.call_facts(definition.call, definition.facts, playbook, incident),
                     answered=not state.waiting)

    def advance(self, tx: Tx, playbook: Playbook, incident: Incident) -> Incident:
        """Enter every stage whose device condition now holds."""
        for stage in playbook.stages[1:]:
            enter = stage.enter
            if enter is None or stage.id in incident.entered:
                continue
            if enter.state is not None:
                reached = [r for r in incident.devices if r.state == enter.state.value
                           and (enter.point_kinds is None or r.kind in enter.point_kinds)]
                if reached:
                    incident = self.enter(
                        tx, playbook, incident, stage,
                        reason=StageReason.POINT_REACHED, point=reached[0].point_id,
                        state=enter.state.value, devices=[r.point_id for r in reached])
                continue
            need = enter.independent_devices
            if need is None:
                continue
            groups: dict[tuple[str, ...], list[DeviceRef]] = {}
            for ref in incident.devices:
                groups.setdefault(location_key(ref.location, enter.within, ref.point_id),
                                  []).append(ref)
            met = next((refs for refs in groups.values() if len(refs) >= need), None)
            if met is None:
                continue
            names = [f"{r.point_id}/{r.device}" if r.device else r.point_id for r in met]
            incident = self.enter(
                tx, playbook, incident, stage,
                reason=StageReason.DEVICES_IN_SCOPE, count=len(met), within=enter.within,
                devices=names)
        return incident

    def enter(self, tx: Tx, playbook: Playbook, incident: Incident, stage: StageDef,
              *, reason: StageReason, actor: str = "", **extra: Any) -> Incident:
        """Enter ``stage`` for ``reason`` (its particulars in ``extra``, on the event)."""
        now = tx.now
        incident = replace(incident, stage=stage.id, entered=(*incident.entered, stage.id))
        if stage.verdict is not None:
            incident = replace(incident, verdict=stage.verdict)
        tx.event(incident, EventKind.STAGE_ENTERED, actor=actor, stage=stage.id,
                 stage_name_zh=stage.name.zh, stage_name_en=stage.name.en, reason=reason,
                 verdict=stage.verdict.value if stage.verdict else None, **extra)
        # a branch that offered this stage is decided by it (the second detector confirmed
        # the fire before the patrol reported), for the same reason
        why = {k: v for k, v in extra.items() if k in _REASON_PARTICULARS}
        branches = []
        for branch in incident.branches:
            option = self._option_to(playbook, branch, stage.id)
            if branch.status is BranchStatus.OPEN and option is not None:
                tx.event(incident, EventKind.BRANCH_DECIDED, actor=actor, branch=branch.id,
                         option=option.id, label_zh=option.label.zh, label_en=option.label.en,
                         reason=reason, on_time=branch.due_at is None or now <= branch.due_at,
                         verdict=option.verdict.value if option.verdict else None, **why)
                if option.verdict is not None:
                    incident = replace(incident, verdict=option.verdict)
                branches.append(replace(branch, status=BranchStatus.DECIDED, option=option.id,
                                        decided_by=actor, decided_at=now,
                                        note=str(extra.get("note", ""))))
            else:
                branches.append(branch)
        for role in stage.notify:
            self.engine.timers.notify(tx, incident, role, Escalation.STAGE_ENTERED, stage=stage.id)
        steps = list(incident.steps)
        for step in stage.steps:
            due = now + step.deadline if step.deadline is not None else None
            steps.append(StepState(step.id, stage.id, step.role, StepStatus.PENDING, now, due))
            tx.event(incident, EventKind.STEP_STARTED, step=step.id, role=step.role,
                     text_zh=step.text.zh, text_en=step.text.en, due_at=due,
                     arrival=step.arrival)
        actions = list(incident.actions)
        for action in stage.actions:
            actions.extend(self.engine.actions.request(tx, incident, action))
        prompts = list(incident.prompts)
        for prompt in stage.prompts:
            due = now + prompt.timeout if prompt.timeout is not None else None
            prompts.append(PromptState(prompt.id, stage.id, PromptStatus.OPEN, now, due_at=due))
            data: dict[str, Any] = {
                "prompt": prompt.id, "text_zh": prompt.text.zh, "text_en": prompt.text.en,
                "due_at": due, "on_timeout": prompt.on_timeout,
                "second_confirmation": prompt.second_confirmation,
                "actions": [a.id for a in prompt.actions]}
            if prompt.call:
                data["call"] = self.call_facts(prompt.call, prompt.facts, playbook, incident)
            tx.event(incident, EventKind.PROMPT_RAISED, **data)
        if stage.branch is not None:
            b = stage.branch
            due = now + b.deadline if b.deadline is not None else None
            branches.append(BranchState(b.id, stage.id, b.role, BranchStatus.OPEN, now, due))
            tx.event(incident, EventKind.BRANCH_RAISED, branch=b.id, role=b.role,
                     question_zh=b.question.zh, question_en=b.question.en, due_at=due,
                     options=[{"id": o.id, "zh": o.label.zh, "en": o.label.en}
                              for o in b.options])
        return replace(incident, steps=tuple(steps), actions=tuple(actions),
                       prompts=tuple(prompts), branches=tuple(branches))

    @staticmethod
    def _option_to(playbook: Playbook, branch: BranchState, stage_id: str) -> OptionDef | None:
        definition = playbook.stage(branch.stage).branch
        if definition is None:
            return None
        return next((o for o in definition.options if o.goto == stage_id), None)

    def call_facts(self, contact_id: str, facts: Iterable[str], playbook: Playbook,
                   incident: Incident) -> dict[str, str]:
        """What the operator reads out on an outside call, filled from the site config."""
        contact = self.site.contacts[contact_id]
        site = self.site
        places = incident.places()
        named = [site.zones.place(loc) for loc in places]
        where_zh = "、".join(n.zh for n in named)
        where_en = "; ".join(n.en for n in named)
        every = {
            "project": (site.site_name.zh, site.site_name.en),
            "address": (site.address.zh, site.address.en),
            "crossroads": (site.crossroads.zh, site.crossroads.en) if site.crossroads
            else ("", ""),
            "where": (where_zh, where_en),
            "what": (playbook.name.zh, playbook.name.en),
            "callback": (site.callback_phone, site.callback_phone),
            "caller": ("", ""),  # the operator who makes the call: filled when answered
        }
        out = {"contact": contact.id, "name_zh": contact.name.zh, "name_en": contact.name.en,
               "phone": contact.phone, "facts": ",".join(facts)}
        for fact in facts:
            zh, en = every[fact]
            out[f"{fact}_zh"] = zh
            out[f"{fact}_en"] = en
        return out

    # ------------------------------------------------------------------ operators
