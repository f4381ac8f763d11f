"""What the console's API says of things: site texts, users, shelves, and the playbook's
texts an incident's page needs (its checklist and forms)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.console import auth
from gateway.domain.incident import Incident
from gateway.domain.model import SEVERITY_RANK
from gateway.engine.state import statement
from gateway.engine.workflow import incident_records
from gateway.playbook.definition import Playbook

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway


def shelf_json(gateway: Gateway, point_id: str) -> dict[str, Any] | None:
    shelf = gateway.shelved.get(point_id)
    if shelf is None:
        return None
    return {"until": shelf.until, "by": shelf.by, "reason": shelf.reason, "at": shelf.at}


def bi(text: Any) -> dict[str, str]:
    return {"zh": text.zh, "en": text.en}


def user_json(user: auth.User) -> dict[str, Any]:
    return {"name": user.name, "display": user.display, "roles": list(user.roles),
            "may": sorted(p for p in auth.PERMISSIONS if user.may(p))}


def rank(incident: Incident) -> int:
    return SEVERITY_RANK[incident.severity]


def natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**9, value)


def playbook_view(playbook: Playbook | None, incident: Incident,
                   events: list[Any]) -> dict[str, Any] | None:
    """The playbook's texts for what the incident holds: the page's checklist and forms."""
    if playbook is None:
        return None
    # the latest facts of each call: a new place in alarm updates "where"
    calls = {e.data["prompt"]: e.data["call"] for e in events
             if e.kind in ("prompt_raised", "call_facts_updated") and e.data.get("call")}
    stages = {s.id: s for s in playbook.stages}
    said = statement(playbook, incident)
    steps = {}
    for state in incident.steps:
        step = playbook.step(state.stage, state.id) if state.stage in stages else None
        if step is not None:
            steps[state.id] = {"text": bi(step.text), "arrival": step.arrival,
                               "deadline": step.deadline}
    prompts = {}
    for prompt_state in incident.prompts:
        prompt = playbook.prompt(prompt_state.stage, prompt_state.id) \
            if prompt_state.stage in stages else None
        if prompt is not None:
            prompts[prompt_state.id] = {
                "text": bi(prompt.text), "on_timeout": prompt.on_timeout,
                "timeout": prompt.timeout, "second_confirmation": prompt.second_confirmation,
                "actions": [bi(a.name) for a in prompt.actions],
                "call": calls.get(prompt_state.id)}
    branches = {}
    for branch_state in incident.branches:
        branch = stages[branch_state.stage].branch if branch_state.stage in stages else None
        if branch is not None:
            branches[branch_state.id] = {"question": bi(branch.question),
                                  "options": [{"id": o.id, "label": bi(o.label),
                                               "verification": o.verification,
                                               "goto": o.goto}
                                              for o in branch.options]}
    records = []
    for record in incident_records(playbook, incident):
        entry = incident.record(record.id)
        records.append({"id": record.id, "label": bi(record.label), "type": record.type,
                        "required": record.required,
                        "value": entry.value if entry else None,
                        "by": entry.by if entry else None, "at": entry.at if entry else None})
    review = playbook.review
    return {
        "id": playbook.id, "name": bi(playbook.name), "category": playbook.category,
        "stages": [{"id": s.id, "name": bi(s.name), "entered": s.id in incident.entered}
                   for s in playbook.stages],
        "statement": bi(said) if said else None, "steps": steps, "prompts": prompts,
        "branches": branches, "records": records,
        "review": {"handling": bi(review.handling), "analysis": bi(review.analysis),
                   "improvement": bi(review.improvement)} if review else None,
        "actions": {a.id: bi(a.name) for s in playbook.stages
                    for a in (*s.actions, *(x for p in s.prompts for x in p.actions))},
    }
