"""The operator commands, each defined once: its arguments, who may give it, what it does.

The CLI builds its sub-commands from these, the console its request bodies and its checks
of roles, the daemon decides them (``engine.workflow`` for an incident's, ``daemon``'s own
for the site's). Arguments travel as text (``OperatorCommand.args``); a flag is ``"yes"`` or
empty.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.domain.drill import MAX_MINUTES as MAX_DRILL_MINUTES
from gateway.errors import CommandError, Refusal

MAX_SHELVE_MINUTES = 24 * 60
# how an operator may say yes or no (a flag, an answer, a yes/no record)
YES = frozenset({"yes", "y", "true", "1", "是"})
NO = frozenset({"no", "n", "false", "0", "否"})


class ArgKind(enum.Enum):
    ID = "id"  # a name out of the playbook or the site (a step, a branch, a role)
    TEXT = "text"  # free text, up to 4,000 characters
    SHORT = "short"  # a short word or name (a building, a person), up to ``limit``
    CHOICE = "choice"  # one of ``choices``
    FLAG = "flag"
    MINUTES = "minutes"  # a number of minutes, 1 to ``limit``
    LIST = "list"  # several short names (buildings, points), up to ``limit`` of them


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: ArgKind = ArgKind.TEXT
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    limit: float = 0.0  # the longest SHORT, the most MINUTES, the longest LIST
    default: str = ""  # MINUTES: when none is given
    positional: bool = False  # on the command line: given in order, not by name


class Target(enum.Enum):
    INCIDENT = "incident"  # names an incident
    NEW_INCIDENT = "new_incident"  # opens one
    SITE = "site"  # the site's (a drill window, a shelved point, a reload)


@dataclass(frozen=True, slots=True)
class CommandDef:
    verb: str
    summary: str
    permission: str  # see gateway.console.auth.PERMISSIONS
    args: tuple[Arg, ...] = ()
    target: Target = Target.INCIDENT

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)


_NOTE = Arg("note", help="what was found or done")
# resolving with a decision of the playbook still open, or closing with its work undone, is
# done only with the reason on record
_REASON = Arg("reason", help="why, when the playbook's work is left undone (on record)")


def _def(verb: str, summary: str, permission: str, *args: Arg,
         target: Target = Target.INCIDENT) -> CommandDef:
    return CommandDef(verb, summary, permission, args, target)


COMMANDS: dict[str, CommandDef] = {c.verb: c for c in (
    _def("open", "open an incident by hand (a phone call, the elevator intercom)", "open",
         Arg("playbook", ArgKind.ID, True, "e.g. gas_leak, elevator_entrapment, fire",
             positional=True),
         *(Arg(part, ArgKind.SHORT, limit=40) for part in ("building", "floor", "zone", "unit")),
         Arg("reporter", ArgKind.SHORT, help="who reported it (name, unit, phone)", limit=200),
         _NOTE, Arg("drill", ArgKind.FLAG, help="a drill: writes are withheld"),
         target=Target.NEW_INCIDENT),
    _def("ack", "acknowledge (not resolve)", "work", _NOTE),
    _def("confirm", "confirm the alarm after verification", "work", _NOTE),
    _def("reject", "reject: a false alarm, with its cause", "work",
         Arg("note", required=True, help="what was found: the cause of the false alarm")),
    _def("decide", "take a branch of the playbook", "work",
         Arg("branch", ArgKind.ID, True, positional=True),
         Arg("option", ArgKind.ID, True, positional=True), _NOTE),
    _def("step", "mark a step done", "work", Arg("step", ArgKind.ID, True, positional=True),
         _NOTE),
    _def("arrive", "record someone's arrival on scene", "work",
         Arg("role", ArgKind.ID, True, "e.g. on_duty_patrol, duty_supervisor, engineering",
             positional=True),
         Arg("who", ArgKind.SHORT, help="the name of who arrived (default: who gives it)",
             limit=100), _NOTE),
    _def("answer", "answer a prompt yes or no", "work",
         Arg("prompt", ArgKind.ID, True, positional=True),
         Arg("answer", ArgKind.CHOICE, True, choices=("yes", "no"), positional=True), _NOTE),
    _def("note", "add a note", "note", Arg("text", required=True, positional=True)),
    _def("record", "fill a record field (release time, injuries, ...)", "work",
         Arg("field", ArgKind.ID, True, positional=True),
         Arg("value", required=True, positional=True)),
    _def("assign", "name the incident's commander", "close",
         Arg("commander", ArgKind.ID, True, positional=True)),
    _def("resolve", "the emergency is over; the review is still to come", "work", _NOTE,
         _REASON),
    _def("close", "close with the review (处理 / 分析 / 改善)", "close",
         Arg("handling", required=True, help="what was done"),
         Arg("analysis", required=True, help="cause and responsibility"),
         Arg("improvement", required=True, help="what changes to prevent it"), _REASON),
    _def("reopen", "reopen a resolved or closed incident", "close",
         Arg("reason", required=True, help="why it is reopened")),
    _def("follow_up", "record a follow-up visit or call (回访) as done", "work",
         Arg("task", ArgKind.ID, True, positional=True),
         Arg("note", required=True, help="what the resident said")),
    _def("drill_start", "start a drill window: the signals of its buildings and points are "
         "drill signals (their writes withheld); every other signal stays real", "drill",
         Arg("minutes", ArgKind.MINUTES, limit=MAX_DRILL_MINUTES, default="30"),
         Arg("buildings", ArgKind.LIST, help="the buildings in the drill", limit=50),
         Arg("points", ArgKind.LIST, help="the points in the drill", limit=500),
         target=Target.SITE),
    _def("drill_stop", "end the drill window", "drill", target=Target.SITE),
    _def("shelve", "take a nuisance point out of service for a while (its signals are kept "
         "but open no incident)", "shelve", Arg("point", ArgKind.ID, True),
         Arg("minutes", ArgKind.MINUTES, limit=MAX_SHELVE_MINUTES, default="60"),
         Arg("reason", required=True, help="why (e.g. detector under repair)"),
         target=Target.SITE),
    _def("unshelve", "back in service now", "shelve", Arg("point", ArgKind.ID, True),
         target=Target.SITE),
    _def("reload", "re-read the config and playbooks (as on SIGHUP); a bad one is refused",
         "reload", target=Target.SITE),
    _def("roster_swap", "put someone else on duty in a role for the shift now running (a swap "
         "for tonight); on record", "close", Arg("role", ArgKind.ID, True, positional=True),
         Arg("person", ArgKind.ID, True, positional=True),
         Arg("reason", required=True, help="why (e.g. 张伟 is ill; 陈杰 takes the night)"),
         target=Target.SITE),
    _def("actuate", "command an actuator by hand (recall an elevator, reset the recall, close "
         "a valve): sent, and followed to its feedback; with an incident, one of its actions",
         "actuate", Arg("actuator", ArgKind.ID, True, positional=True),
         Arg("command", ArgKind.ID, True, "one of the actuator's commands", positional=True),
         Arg("reason", required=True, help="why (on record)"),
         Arg("incident", ArgKind.SHORT, help="the incident it is done for (one of its actions)",
             limit=40),
         Arg("drill", ArgKind.FLAG, help="in the drill window: the write is withheld"),
         target=Target.SITE),
)}

@dataclass(frozen=True, slots=True)
class Answer:
    """What became of a queued command (row ``row_id`` of the store's queue): applied, with
    what it did in a line, or refused, with why."""

    row_id: int
    text: str
    refusal: Refusal | None = None
    code: str = ""  # of a refusal (gateway.errors.CommandError)
    params: Mapping[str, str | list[str]] = field(default_factory=dict)

    @classmethod
    def refused(cls, row_id: int, exc: CommandError) -> Answer:
        return cls(row_id, str(exc), exc.refusal, exc.code, exc.params)

    @property
    def ok(self) -> bool:
        return self.refusal is None


INCIDENT_VERBS = tuple(v for v, c in COMMANDS.items() if c.target is Target.INCIDENT)
