"""The commands that work an incident's checklist: confirm or reject its verification,
decide a branch, mark a step done, record an arrival, answer a prompt (with a second operator
where the playbook asks for one)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.config.schema import unknown_name
from gateway.domain.commands import NO, YES
from gateway.domain.events import EventKind, StageReason
from gateway.domain.incident import Incident
from gateway.domain.model import BranchStatus, PromptStatus, StepStatus
from gateway.errors import CommandError
from gateway.playbook.definition import OptionDef, Playbook

if TYPE_CHECKING:
    from gateway.engine.machine import Engine
    from gateway.engine.state import OperatorCommand, Tx




class Checklist:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site

    def confirm(self, tx: Tx, playbook: Playbook, incident: Incident,
                cmd: OperatorCommand) -> Incident:
        picked = self._verification(playbook, incident, "confirmed")
        note = cmd.args.get("note", "")
        if picked is not None:
            return self._decide(tx, playbook, incident, picked[0], picked[1], cmd.actor, note)
        stage = next((s for s in playbook.stages[1:] if s.enter and s.enter.operator
                      and s.id not in incident.entered), None)
        if stage is None:
            raise CommandError(f"{incident.id} is in stage {incident.stage!r}; there is "
                               "nothing left to confirm", code="nothing_to_confirm")
        return self.engine.enter_stage(tx, playbook, incident, stage,
                                       reason=StageReason.CONFIRMED_BY_OPERATOR, actor=cmd.actor,
                                       note=note)

    def reject(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        picked = self._verification(playbook, incident, "rejected")
        if picked is None:
            raise CommandError(f"{incident.id} has no open verification to reject",
                               code="nothing_to_reject")
        note = cmd.args.get("note", "").strip()
        if not note:
            raise CommandError("say what was found (--note TEXT: the cause of the false alarm)",
                               code="reject_needs_note")
        return self._decide(tx, playbook, incident, picked[0], picked[1], cmd.actor, note)

    @staticmethod
    def _verification(playbook: Playbook, incident: Incident,
                      which: str) -> tuple[str, OptionDef] | None:
        for branch in incident.branches:
            if branch.status is not BranchStatus.OPEN:
                continue
            definition = playbook.stage(branch.stage).branch
            if definition is None:
                continue
            option = next((o for o in definition.options if o.verification == which), None)
            if option is not None:
                return branch.id, option
        return None

    def decide(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        branch_id = cmd.args.get("branch", "")
        branch = incident.branch(branch_id)
        if branch is None:
            known = [b.id for b in incident.branches]
            raise CommandError(f"{incident.id} has no branch {branch_id!r} "
                               f"(branches: {', '.join(known) or 'none'})",
                               code="no_branch", branch=branch_id)
        definition = playbook.stage(branch.stage).branch
        if definition is None:
            raise CommandError(f"the playbook {playbook.id} no longer has branch {branch_id!r} "
                               f"in stage {branch.stage!r}", code="playbook_changed")
        option = definition.option(cmd.args.get("option", ""))
        if option is None:
            raise CommandError(unknown_name("option", cmd.args.get("option", ""),
                                            [o.id for o in definition.options]),
                               code="no_option", branch=branch_id)
        return self._decide(tx, playbook, incident, branch_id, option, cmd.actor,
                            cmd.args.get("note", ""))

    def _decide(self, tx: Tx, playbook: Playbook, incident: Incident, branch_id: str,
                option: OptionDef, actor: str, note: str) -> Incident:
        branch = incident.branch(branch_id)
        if branch is None:
            raise CommandError(f"{incident.id} has no branch {branch_id!r}", code="no_branch",
                               branch=branch_id)
        if branch.status is BranchStatus.DECIDED:
            raise CommandError(f"branch {branch_id!r} was already decided ({branch.option}) by "
                               f"{branch.decided_by or 'the devices'}", code="branch_decided",
                               branch=branch_id, option=branch.option or "",
                               actor=branch.decided_by or "")
        decided = replace(branch, status=BranchStatus.DECIDED, option=option.id,
                          decided_by=actor, decided_at=tx.now, note=note)
        incident = replace(incident, branches=tuple(decided if b.id == branch_id else b
                                                    for b in incident.branches))
        if option.verdict is not None:
            incident = replace(incident, verdict=option.verdict)
        tx.event(incident, EventKind.BRANCH_DECIDED, actor=actor, branch=branch_id,
                 option=option.id, label_zh=option.label.zh, label_en=option.label.en, note=note,
                 on_time=branch.due_at is None or tx.now <= branch.due_at,
                 verdict=option.verdict.value if option.verdict else None)
        if option.goto is not None and option.goto not in incident.entered:
            incident = self.engine.enter_stage(
                tx, playbook, incident, playbook.stage(option.goto),
                reason=StageReason.BRANCH_DECIDED, by_branch=branch_id,
                by_option=option.id, actor=actor)
        return incident

    # ------------------------------------------------------------------ steps, arrivals, prompts

    def step(self, tx: Tx, playbook: Playbook, incident: Incident,
             cmd: OperatorCommand) -> Incident:
        step_id = cmd.args.get("step", "")
        step = incident.step(step_id)
        if step is None:
            known = ", ".join(s.id for s in incident.steps) or "none"
            raise CommandError(f"{incident.id} has no step {step_id!r} (steps: {known})",
                               code="no_step", step=step_id)
        if step.status is StepStatus.DONE:
            raise CommandError(f"step {step_id!r} was already done by {step.done_by}",
                               code="step_done", step=step_id, actor=step.done_by or "")
        done = replace(step, status=StepStatus.DONE, done_at=tx.now, done_by=cmd.actor,
                       note=cmd.args.get("note", ""))
        incident = replace(incident, steps=tuple(done if s.id == step_id else s
                                                 for s in incident.steps))
        tx.event(incident, EventKind.STEP_DONE, actor=cmd.actor, step=step_id, note=done.note,
                 role=step.role, on_time=step.due_at is None or tx.now <= step.due_at,
                 seconds=round(tx.now - step.started_at, 3))
        return incident

    def arrive(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        role = cmd.args.get("role", "")
        if role not in self.site.roles:
            raise CommandError(unknown_name("role", role, self.site.roles), code="no_role",
                               role=role)
        who = cmd.args.get("who", "").strip() or cmd.actor
        waiting = [s for s in incident.steps if s.role == role and s.status is not
                   StepStatus.DONE and (d := playbook.step(s.stage, s.id)) is not None
                   and d.arrival]
        due = min((s.due_at for s in waiting if s.due_at is not None), default=None)
        tx.event(incident, EventKind.ARRIVAL, actor=cmd.actor, role=role, who=who,
                 note=cmd.args.get("note", ""),
                 seconds=round(tx.now - incident.opened_at, 3), due_at=due,
                 on_time=due is None or tx.now <= due, steps=[s.id for s in waiting])
        steps = []
        for s in incident.steps:
            if s not in waiting:
                steps.append(s)
                continue
            steps.append(replace(s, status=StepStatus.DONE, done_at=tx.now, done_by=who,
                                 note=f"on scene: {who}"))
            tx.event(incident, EventKind.STEP_DONE, actor=cmd.actor, step=s.id, role=role,
                     note=f"on scene: {who}", on_time=s.due_at is None or tx.now <= s.due_at,
                     seconds=round(tx.now - s.started_at, 3))
        return replace(incident, steps=tuple(steps))

    def answer(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        prompt_id = cmd.args.get("prompt", "")
        raw = cmd.args.get("answer", "").strip().lower()
        if raw not in YES | NO:
            raise CommandError("answer yes or no", code="yes_or_no")
        yes = raw in YES
        prompt = incident.prompt(prompt_id)
        if prompt is None:
            known = ", ".join(p.id for p in incident.prompts) or "none"
            raise CommandError(f"{incident.id} has no prompt {prompt_id!r} (prompts: {known})",
                               code="no_prompt", prompt=prompt_id)
        if not prompt.waiting:
            by = prompt.answered_by or "the timeout policy"
            how = f"{prompt.status.value} {prompt.answer}".strip()
            raise CommandError(f"prompt {prompt_id!r} was already settled ({how}) by {by}",
                               code="prompt_settled", prompt=prompt_id,
                               actor=prompt.answered_by or "")
        definition = playbook.prompt(prompt.stage, prompt.id)
        if definition is None:
            raise CommandError(f"the playbook {playbook.id} no longer has prompt {prompt_id!r} "
                               f"in stage {prompt.stage!r}", code="playbook_changed")
        note = cmd.args.get("note", "")
        on_time = prompt.due_at is None or tx.now <= prompt.due_at
        if prompt.status is PromptStatus.AWAITING_SECOND:
            if cmd.actor == prompt.answered_by:
                raise CommandError(f"prompt {prompt_id!r} needs a second operator: "
                                   f"{prompt.answered_by} already said yes",
                                   code="second_operator", prompt=prompt_id,
                                   actor=prompt.answered_by or "")
            answer = "yes" if yes else "no"
            settled = replace(prompt, status=PromptStatus.ANSWERED, answer=answer,
                              confirmed_by=cmd.actor, confirmed_at=tx.now)
            tx.event(incident, EventKind.PROMPT_ANSWERED, actor=cmd.actor, prompt=prompt_id,
                     answer=answer, second=True, first=prompt.answered_by, note=note,
                     on_time=on_time, seconds=round(tx.now - prompt.raised_at, 3))
        elif yes and definition.second_confirmation:
            settled = replace(prompt, status=PromptStatus.AWAITING_SECOND, answered_by=cmd.actor,
                              answered_at=tx.now)
            tx.event(incident, EventKind.PROMPT_CONFIRMATION_NEEDED, actor=cmd.actor,
                     prompt=prompt_id, note=note)
            tx.out.result = (f"{prompt_id}: yes from {cmd.actor}; a second operator must "
                             "confirm before anything is done")
        else:
            answer = "yes" if yes else "no"
            settled = replace(prompt, status=PromptStatus.ANSWERED, answer=answer,
                              answered_by=cmd.actor, answered_at=tx.now)
            extra = {"caller": cmd.actor} if definition.call else {}
            tx.event(incident, EventKind.PROMPT_ANSWERED, actor=cmd.actor, prompt=prompt_id,
                     answer=answer, note=note, on_time=on_time,
                     seconds=round(tx.now - prompt.raised_at, 3), **extra)
        incident = replace(incident, prompts=tuple(settled if p.id == prompt_id else p
                                                   for p in incident.prompts))
        if settled.status is PromptStatus.ANSWERED and settled.answer == "yes":
            actions = list(incident.actions)
            for action in definition.actions:
                actions.extend(self.engine.actions.request(tx, incident, action,
                                                          prompt=prompt_id))
            incident = replace(incident, actions=tuple(actions))
        return incident

    # ------------------------------------------------------------------ notes, records, tasks
