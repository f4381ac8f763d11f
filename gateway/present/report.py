"""The incident report: what happened, who did what and when, against the playbook's deadlines.

``build_report`` reads an incident's snapshot and its timeline (the events) and returns plain
values: first what a property manager files (the project, a summary, the gaps, the sign-off;
``report_summary``), then the details; ``render_markdown`` and ``render_html`` write them out
in zh-CN or English. The texts of steps, prompts, branches and records are taken from the
events first (they say what the operators saw at the time) and from the playbook when an event
lacks them; without either, ids stand in. Users are named as they go by (``people``), devices
and places as the site names them (``report_naming``). Nothing here does I/O.

Every string a device or an operator supplied (zones, device names, notes, answers, records,
the review) is escaped by the renderers: HTML with ``html.escape``, Markdown with backslashes
so that neither table cells break nor raw HTML gets through."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.incident import Incident
from gateway.domain.model import (
    BranchStatus,
    Event,
    IncidentStatus,
    PromptStatus,
    StepStatus,
    Text,
)
from gateway.engine.workflow import required_records
from gateway.playbook.definition import Playbook
from gateway.present.names import Names, names_of
from gateway.present.report_naming import Naming, People, naming_of, person
from gateway.present.report_summary import gap_items, sign_off, summary_text
from gateway.present.report_timeline import timeline_entries
from gateway.present.report_values import (
    ACK_TARGET,
    DEVICE_LIST_MAX,
    LATE,
    MISSED,
    NOT_DUE,
    ON_TIME,
    PENDING,
    UNTIMED,
    ActionItem,
    ArrivalItem,
    CallItem,
    DeviceItem,
    DrillScore,
    FollowUpItem,
    Header,
    IncidentReport,
    PromptItem,
    RecordItem,
    ResponseItem,
    ReviewItem,
)
from gateway.present.timeline import step_note
from gateway.present.words import (
    POLICY_WORDS,
    REVIEW_PARTS,
    bi,
    cat,
    duration,
    fval,
    join_texts,
    joined,
    pair,
    same,
    sval,
)


def _end_of_deadlines(incident: Incident, now: float) -> tuple[float, bool]:
    """Until when the incident's deadlines ran, and whether they still run."""
    if incident.live:
        return now, True
    ends = [t for t in (incident.resolved_at, incident.closed_at) if t is not None]
    return (min(ends) if ends else incident.updated_at), False


def _outcome(due: float | None, done: float | None, overdue: bool, end: float,
             live: bool) -> tuple[str, float | None]:
    if due is None:
        return UNTIMED, None
    if done is not None:
        return (ON_TIME, None) if done <= due else (LATE, done - due)
    if overdue or end > due:
        return MISSED, None
    return (PENDING if live else NOT_DUE), None


def response_items(incident: Incident, events: Sequence[Event] = (), *,
                   names: Names | None = None, now: float | None = None,
                   people: People | None = None) -> list[ResponseItem]:
    """Acknowledging, every step, branch and prompt against its deadline.

    Works from the snapshot alone (the events only add texts and the first of two
    confirmers), so the KPIs can score drills without reading timelines.
    """
    n = names or Names()

    def who(name: str) -> str:
        return person(people, name)

    reference = now if now is not None else max(
        [incident.updated_at, *(e.at for e in events[-1:])])
    end, live = _end_of_deadlines(incident, reference)
    items: list[ResponseItem] = []
    center = n.roles.get("monitoring_center") or bi("监控中心", "Monitoring center")
    ack_due = incident.opened_at + ACK_TARGET
    outcome, late_by = _outcome(ack_due, incident.acknowledged_at, False, end, live)
    items.append(ResponseItem(
        "ack", "ack", bi("确认接警", "Acknowledge"), center,
        incident.opened_at, ack_due, incident.acknowledged_at, who(incident.acknowledged_by),
        outcome, late_by, bi(f"目标 {duration(ACK_TARGET, 'zh')}（本报告设定，预案未规定）",
                             f"target {duration(ACK_TARGET, 'en')} (set by this report; "
                             "the playbook sets none)")))
    for step in incident.steps:
        outcome, late_by = _outcome(step.due_at, step.done_at,
                                    step.status is StepStatus.OVERDUE, end, live)
        items.append(ResponseItem(
            "step", step.id, n.step(step.id), n.role(step.role), step.started_at, step.due_at,
            step.done_at, who(step.done_by), outcome, late_by,
            step_note(step.note) if step.note else None))
    for branch in incident.branches:
        decided = branch.decided_at if branch.status is BranchStatus.DECIDED else None
        outcome, late_by = _outcome(branch.due_at, decided, branch.overdue, end, live)
        detail = None
        if branch.status is BranchStatus.DECIDED:
            detail = cat(bi("选择：", "picked: "), n.option(branch.id, branch.option))
            if not branch.decided_by:
                detail = cat(detail, bi("（设备自动）", " (by the devices)"))
        items.append(ResponseItem(
            "branch", branch.id, n.branch(branch.id), n.role(branch.role), branch.raised_at,
            branch.due_at, decided, who(branch.decided_by) or ("" if decided is None else "-"),
            outcome, late_by, detail))
    for prompt in incident.prompts:
        answered = (prompt.confirmed_at or prompt.answered_at) \
            if prompt.status is PromptStatus.ANSWERED else None
        outcome, late_by = _outcome(prompt.due_at, answered,
                                    prompt.timed_out and answered is None, end, live)
        policy = n.policies.get(prompt.id, "")
        parts: list[Text] = []
        if prompt.status is PromptStatus.ANSWERED:
            parts.append(bi(f"回答：{'是' if prompt.answer == 'yes' else '否'}",
                            f"answer: {prompt.answer}"))
        if prompt.status is PromptStatus.AWAITING_SECOND:
            first = who(prompt.answered_by)
            parts.append(bi(f"{first} 已答“是”，待第二人确认",
                            f"yes from {first}, awaiting a second operator"))
        if prompt.confirmed_by:
            second = who(prompt.confirmed_by)
            parts.append(bi(f"第二确认人 {second}", f"confirmed by {second}"))
        if policy:
            parts.append(pair(POLICY_WORDS, policy))
        if prompt.status is PromptStatus.ACTED_ON_TIMEOUT:
            parts.append(bi("无人回答，已按策略自动执行", "nobody answered: acted by policy"))
        elif prompt.timed_out:
            parts.append(bi("超时策略已触发", "timeout policy applied"))
        by = who(prompt.answered_by) if answered is not None else ""
        if prompt.confirmed_by:
            by = f"{who(prompt.answered_by)} + {who(prompt.confirmed_by)}"
        items.append(ResponseItem(
            "prompt", prompt.id, n.prompt(prompt.id), center,
            prompt.raised_at, prompt.due_at, answered, by, outcome, late_by,
            join_texts(parts, "；", "; ") if parts else None))
    return items


def score(items: Sequence[ResponseItem]) -> DrillScore:
    scored = tuple(i for i in items if i.scored)
    excluded = sum(1 for i in items if i.outcome in (PENDING, NOT_DUE))
    return DrillScore(sum(1 for i in scored if i.outcome == ON_TIME), len(scored), scored,
                      excluded)


def drill_score(incident: Incident, *, now: float | None = None) -> DrillScore:
    """Every timed item met or missed, from the snapshot alone (ack against ``ACK_TARGET``)."""
    return score(response_items(incident, now=now))


def build_report(incident: Incident, events: Sequence[Event], playbook: Playbook | None,
                 site: SiteConfig | None, *, now: float | None = None,
                 people: Mapping[str, str] | None = None) -> IncidentReport:
    """The report of one incident; ``playbook``/``site`` may be None (ids stand in).
    ``people`` gives the name each user goes by (login name → display name)."""
    events = list(events)
    n = names_of(events, playbook, site)
    k = naming_of(incident, events, n, site, people)
    reference = now if now is not None else max(
        [incident.updated_at, *(e.at for e in events[-1:])])
    header = _header(incident, events, k, playbook is not None)
    responses = response_items(incident, events, names=n, now=reference, people=k.people)
    arrivals = _arrivals(events, k)
    actions = _actions(incident, events, k)
    calls = _calls(incident, events, k)
    records = _records(incident, playbook, k)
    follow_ups = [FollowUpItem(f.id, n.role(f.role), Text(f.text_zh, f.text_en), f.due_at,
                               f.status, f.done_at, k.who(f.done_by), f.note)
                  for f in incident.follow_ups]
    return IncidentReport(
        header=header, timeline=tuple(timeline_entries(events, k, incident)),
        responses=tuple(responses), arrivals=tuple(arrivals), actions=tuple(actions),
        prompts=tuple(_prompts(incident, events, k)), calls=tuple(calls),
        records=tuple(records), review=tuple(_review(incident, events, playbook)),
        follow_ups=tuple(follow_ups),
        devices=tuple(DeviceItem(k.device(d.point_id, d.device), k.kind(d.kind),
                                 k.place(d.location), d.state, d.first_at, d.last_at)
                      for d in incident.devices[:DEVICE_LIST_MAX]),
        device_states=tuple(Counter(d.state for d in incident.devices).most_common()),
        drill_score=score(responses) if incident.drill else None,
        generated_at=reference, event_count=len(events),
        summary=summary_text(header, incident, k, responses, arrivals, actions, calls),
        gaps=tuple(gap_items(incident, events, k, responses, actions, records, follow_ups,
                             reference)),
        sign_off=sign_off(header))


def _header(incident: Incident, events: Sequence[Event], k: Naming, loaded: bool) -> Header:
    n = k.names
    opened = next((e for e in events if e.kind == "incident_opened"), None)
    opened_by_device = same("")
    if opened is not None and opened.point_id:
        opened_by_device = k.device(opened.point_id, sval(opened.data, "device"),
                                    sval(opened.data, "kind"))
    elif incident.devices and not incident.opened_by:
        first = incident.devices[0]
        opened_by_device = k.device(first.point_id, first.device, first.kind)
    places = tuple(k.place(p) for p in incident.places())
    site = k.site
    return Header(
        incident_id=incident.id, playbook_id=incident.type,
        playbook_name=n.playbook or same(incident.type),
        location=", ".join(p.label() for p in incident.places()),
        place=cat(*joined(list(places))),
        severity=incident.severity.value,
        status=incident.status.value,
        verdict=incident.verdict.value if incident.verdict else None,
        stage=n.stage(incident.stage), commander=k.who(incident.commander),
        commander_role=n.role(incident.commander_role) if incident.commander_role
        else same(""),
        opened_at=incident.opened_at, opened_by=k.who(incident.opened_by),
        opened_by_device=opened_by_device, acknowledged_at=incident.acknowledged_at,
        acknowledged_by=k.who(incident.acknowledged_by), resolved_at=incident.resolved_at,
        resolved_by=k.who(incident.resolved_by), closed_at=incident.closed_at,
        closed_by=k.who(incident.closed_by), drill=incident.drill, reopened=incident.reopened,
        device_count=len(incident.devices), signal_count=incident.signal_count,
        playbook_loaded=loaded, site_name=site.site_name if site is not None else same(""),
        site_address=site.address if site is not None else same(""), places=places)


def _arrivals(events: Sequence[Event], k: Naming) -> list[ArrivalItem]:
    out = []
    for e in events:
        if e.kind != "arrival":
            continue
        d = e.data
        due = fval(d, "due_at")
        on_time = bool(d.get("on_time", True))
        out.append(ArrivalItem(e.at, sval(d, "role"), k.names.role(sval(d, "role")),
                               sval(d, "who"), fval(d, "seconds"), due, on_time,
                               None if on_time or due is None else e.at - due, k.who(e.actor)))
    return out


def _actions(incident: Incident, events: Sequence[Event], k: Naming) -> list[ActionItem]:
    seen: dict[tuple[str, str], dict[str, Event]] = {}
    for e in events:
        if e.kind.startswith("action_") and e.kind not in ("action_requested",
                                                           "action_skipped"):
            key = (sval(e.data, "action"), sval(e.data, "actuator"))
            seen.setdefault(key, {}).setdefault(e.kind.removeprefix("action_"), e)
    out: list[ActionItem] = []
    for a in incident.actions:
        times = seen.get((a.action, a.actuator_id), {})

        def at(status: str, times: dict[str, Event] = times) -> float | None:
            event = times.get(status)
            return event.at if event is not None else None

        done = times.get("done")
        out.append(ActionItem(
            a.action, k.action(a.action), a.actuator_id, k.actuator(a.actuator_id), a.command,
            a.status.value, a.requested_at, at("sent"), at("done"), at("failed"),
            at("withheld"), a.detail, a.feedback_point,
            fval(done.data, "seconds") if done is not None else None, a.prompt,
            k.device(a.feedback_point) if a.feedback_point else None,
            k.action_detail(a.detail)))
    for e in events:
        if e.kind == "action_skipped":
            action = sval(e.data, "action")
            detail = sval(e.data, "detail")
            out.append(ActionItem(action, k.action(action), "", same(""), "", "skipped", e.at,
                                  detail=detail, detail_text=k.action_detail(detail)))
    return out


def _prompts(incident: Incident, events: Sequence[Event], k: Naming) -> list[PromptItem]:
    n = k.names
    first = {sval(e.data, "prompt"): e.at for e in events
             if e.kind == "prompt_confirmation_needed"}
    return [PromptItem(p.id, n.prompts.get(p.id) or same(p.id), p.status.value, p.raised_at,
                       p.due_at, n.policies.get(p.id, ""), p.timed_out, p.answer,
                       k.who(p.answered_by), p.confirmed_at or p.answered_at, k.who(p.confirmed_by),
                       first.get(p.id, p.answered_at if p.confirmed_by else None))
            for p in incident.prompts]


def _calls(incident: Incident, events: Sequence[Event], k: Naming) -> list[CallItem]:
    out = []
    for e in events:
        call = e.data.get("call")
        if e.kind != "prompt_raised" or not isinstance(call, dict):
            continue
        prompt_id = sval(e.data, "prompt")
        prompt = incident.prompt(prompt_id)
        answered = prompt is not None and prompt.status is PromptStatus.ANSWERED
        caller = k.who(prompt.answered_by) if prompt is not None and answered else ""
        facts = []
        for fact in filter(None, sval(call, "facts").split(",")):
            value = Text(sval(call, f"{fact}_zh"), sval(call, f"{fact}_en"))
            if fact == "caller" and not (value.zh or value.en) and caller:
                value = same(caller)  # the operator who said the call was made
            facts.append((fact, value))
        out.append(CallItem(prompt_id, sval(call, "contact"),
                            Text(sval(call, "name_zh"), sval(call, "name_en")), sval(call, "phone"),
                            tuple(facts), prompt.answer if prompt is not None and answered
                            else "", caller,
                            (prompt.confirmed_at or prompt.answered_at)
                            if prompt is not None and answered else None))
    return out


def _records(incident: Incident, playbook: Playbook | None, k: Naming) -> list[RecordItem]:
    out = [RecordItem(r.id, k.names.record(r.id), site_time.readable(r.value), k.who(r.by), r.at)
           for r in incident.records]
    if playbook is not None and incident.status is not IncidentStatus.CLOSED:
        out += [RecordItem(r.id, r.label, "", "", None)
                for r in required_records(playbook, incident) if incident.record(r.id) is None]
    return out


def _review(incident: Incident, events: Sequence[Event],
            playbook: Playbook | None) -> list[ReviewItem]:
    review = dict(incident.review)
    if not any(review.values()):
        closed = [e for e in events if e.kind == "closed"]
        if closed:
            review = {part: sval(closed[-1].data, part) for part, _ in REVIEW_PARTS}
    guides = playbook.review if playbook is not None else None
    return [ReviewItem(part, getattr(guides, part) if guides is not None else None,
                       review.get(part, "")) for part, _ in REVIEW_PARTS]
