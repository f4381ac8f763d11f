"""The engine driven as the daemon drives it, on a virtual clock (``Harness``)."""

from __future__ import annotations

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident
from gateway.domain.model import PointState, Signal
from gateway.engine.machine import Engine
from gateway.engine.state import EngineState, OperatorCommand, Outcome, apply

T0 = 1_800_000_000.0


class Harness:
    """Feeds inputs to the engine and folds outcomes, as the runtime does."""

    def __init__(self, engine: Engine, site: SiteConfig) -> None:
        self.engine = engine
        self.site = site
        self.state = EngineState()
        self.now = T0
        self.log: list[Outcome] = []

    def run(self, outcome: Outcome) -> Outcome:
        apply(self.state, outcome)
        self.log.append(outcome)
        return outcome

    def signal(self, point_id: str, state: PointState = PointState.ALARM, *, device: str = "",
               changed: bool = True, drill: bool = False, replayed: bool = False,
               chattering: int = 0) -> Outcome:
        point = self.site.points[point_id]
        sig = Signal(point_id=point_id, kind=point.kind, location=point.location, state=state,
                     at=self.now, device=device, source=point.source, changed=changed,
                     drill=drill, replayed=replayed, chattering=chattering)
        return self.run(self.engine.on_signal(self.state, sig, self.now))

    def command(self, verb: str, incident_id: str, actor: str = "王工",
                **args: str) -> Outcome:
        cmd = OperatorCommand(verb, incident_id, actor, args)
        return self.run(self.engine.on_command(self.state, cmd, self.now))

    def tick(self, advance: float) -> Outcome:
        self.now += advance
        return self.run(self.engine.on_tick(self.state, self.now))

    def only(self) -> Incident:
        assert len(self.state.incidents) == 1, list(self.state.incidents)
        return next(iter(self.state.incidents.values()))

    def kinds(self) -> list[str]:
        return [e.kind for o in self.log for e in o.events]


REVIEW = {"handling": "巡逻 2 分钟到场核实", "analysis": "厨房油烟触发感烟探测器",
          "improvement": "提醒住户开启油烟机"}
# what a close says of the playbook's work left undone (the tests close as things stand)
AS_IT_STANDS = "余下工作不再需要 / the rest was not needed"
CLOSE = {**REVIEW, "reason": AS_IT_STANDS}


def close_out(h: Harness, incident_id: str) -> Outcome:
    h.command("ack", incident_id)
    h.command("record", incident_id, field="cause", value="test")
    h.command("record", incident_id, field="injuries", value="none")
    return h.command("close", incident_id, **CLOSE)
