"""What the record says happened: the kinds of event, and the reasons the engine gives as
codes (with their particulars beside them in the event's data), never as sentences. Turning
them into words, zh and en, is ``gateway.present.timeline``'s business alone."""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    # an incident's life
    INCIDENT_OPENED = "incident_opened"
    SIGNAL = "signal"  # a device's signal joined the incident (``announced``: a new alarm)
    CHATTERING = "chattering"
    CALL_FACTS_UPDATED = "call_facts_updated"
    STAGE_ENTERED = "stage_entered"  # ``reason``: a StageReason
    STEP_STARTED = "step_started"
    STEP_DONE = "step_done"
    DEADLINE_MISSED = "deadline_missed"
    ESCALATED = "escalated"  # ``reason``: an Escalation
    NOTIFIED = "notified"
    ACTION_REQUESTED = "action_requested"
    ACTION_SKIPPED = "action_skipped"
    ACTION_PENDING = "action_pending"
    ACTION_SENT = "action_sent"
    ACTION_DONE = "action_done"
    ACTION_FAILED = "action_failed"
    ACTION_WITHHELD = "action_withheld"
    PROMPT_RAISED = "prompt_raised"
    PROMPT_CONFIRMATION_NEEDED = "prompt_confirmation_needed"
    PROMPT_ANSWERED = "prompt_answered"
    PROMPT_TIMED_OUT = "prompt_timed_out"
    BRANCH_RAISED = "branch_raised"
    BRANCH_DECIDED = "branch_decided"
    # what operators did
    ACKNOWLEDGED = "acknowledged"
    ARRIVAL = "arrival"
    NOTE = "note"
    RECORD = "record"
    COMMANDER_ASSIGNED = "commander_assigned"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"  # ``reason``: the operator's words, or ``cause`` new_alarm
    FOLLOW_UP_DONE = "follow_up_done"
    # facts of the site, of no incident
    POINT_SHELVED = "point_shelved"
    POINT_UNSHELVED = "point_unshelved"
    DRILL_STARTED = "drill_started"
    DRILL_STOPPED = "drill_stopped"
    ROSTER_SWAPPED = "roster_swapped"  # someone else on duty in a role for a shift
    PANEL_OPERATION = "panel_operation"  # done at a panel or its transmission device

    @classmethod
    def of_action(cls, status: str) -> EventKind:
        """The event of an action reaching ``status`` (an ActionStatus value)."""
        return cls(f"action_{status}")


class StageReason(enum.StrEnum):
    """Why an incident entered a stage. Particulars in the event's data: ``point`` and
    ``state`` (POINT_REACHED), ``count`` and ``within`` (DEVICES_IN_SCOPE), ``branch`` and
    ``option`` (BRANCH_DECIDED)."""

    OPENED = "opened"
    OPENED_BY_HAND = "opened_by_hand"
    CONFIRMED_BY_OPERATOR = "confirmed_by_operator"
    POINT_REACHED = "point_reached"
    DEVICES_IN_SCOPE = "devices_in_scope"
    BRANCH_DECIDED = "branch_decided"


class Escalation(enum.StrEnum):
    """Why the people of a role were escalated to."""

    DEADLINE_MISSED = "deadline_missed"
    ACTION_FAILED = "action_failed"
    PROMPT_TIMED_OUT = "prompt_timed_out"
    STAGE_ENTERED = "stage_entered"


REOPENED_BY_ALARM = "new_alarm"  # the ``cause`` of a reopening no operator asked for
