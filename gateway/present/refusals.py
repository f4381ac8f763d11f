"""A refused command's particulars in words: the ids it names (steps, prompts, decisions,
records, roles, people) as the site and the playbook name them, in both languages, for a page
that says the refusal in its own language (the console's ``refusal.<code>`` texts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.domain.model import Text
from gateway.present.names import Names
from gateway.present.words import REVIEW_PARTS, bi, same

_REVIEW = {part: bi(*words) for part, words in REVIEW_PARTS}
_GAPS = {"undecided": bi("未决策", "decisions not taken"),
         "open_steps": bi("未完成步骤", "steps not done"),
         "unanswered_prompts": bi("未回答提示", "prompts not answered"),
         "unconfirmed_actions": bi("未确认的联动", "actions not confirmed")}


def _actor(people: Mapping[str, str]) -> Callable[[str], Text]:
    def name(login: str) -> Text:
        if not login:
            return bi("设备", "the devices")
        return same(people.get(login, login))
    return name


def _action(n: Names) -> Callable[[str], Text]:
    def name(key: str) -> Text:  # "recall/ELV-B1-L1"
        action, _, actuator = key.partition("/")
        what = n.actions.get(action) or same(action)
        where = n.actuators.get(actuator) or same(actuator)
        return Text(f"{what.zh}（{where.zh}）", f"{what.en} ({where.en})")
    return name


def refusal_params(params: Mapping[str, str | list[str]], n: Names,
                   people: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{"step": {"zh": ..., "en": ...}, ...}``: each id by its name, lists joined."""
    branch = params.get("branch", "")
    by_kind: dict[str, Callable[[str], Text]] = {
        "step": n.step, "open_steps": n.step, "prompt": n.prompt,
        "unanswered_prompts": n.prompt, "branch": n.branch, "undecided": n.branch,
        "option": lambda o: n.option(branch if isinstance(branch, str) else "", o),
        "record": n.record, "role": n.role, "review": lambda p: _REVIEW.get(p) or same(p),
        "actor": _actor(people), "unconfirmed_actions": _action(n),
        "playbook": lambda p: n.playbook or same(p),
        "actuator": lambda a: n.actuators.get(a) or same(a),
    }
    out = {}
    for key, value in params.items():
        name = by_kind.get(key, same)
        texts = [name(v) for v in (value if isinstance(value, list) else [value])]
        out[key] = {"zh": "、".join(t.zh for t in texts), "en": ", ".join(t.en for t in texts)}
    gaps = [(_GAPS[k], out[k]) for k in _GAPS if k in out]
    if gaps:  # what of the playbook is left undone, in one line
        out["gaps"] = {"zh": "；".join(f"{w.zh}：{v['zh']}" for w, v in gaps),
                       "en": "; ".join(f"{w.en}: {v['en']}" for w, v in gaps)}
    return out
