"""SIA DC-04 event codes (as SIA-DCS messages carry them), read as the Contact ID event and
qualifier they mean, so that both kinds of report take one way to the points. A code not in
the table is an unknown event (code 999), kept and shown, never dropped."""

from __future__ import annotations

import re

from gateway.points.contact_id import ContactId

UNKNOWN = 999
# code: (Contact ID event, a restore)
SIA_CODES: dict[str, tuple[int, bool]] = {
    "FA": (110, False), "FH": (110, True), "FR": (110, True),
    "FT": (373, False), "FJ": (373, True),
    "FB": (571, False), "FU": (571, True),
    "FS": (200, False), "FV": (200, True),
    "BA": (130, False), "BH": (130, True), "BR": (130, True),
    "BB": (573, False), "BU": (573, True),
    "BT": (380, False), "BJ": (380, True),
    "GA": (151, False), "GH": (151, True), "GR": (151, True),
    "WA": (154, False), "WH": (154, True), "WR": (154, True),
    "KA": (114, False), "KH": (114, True), "KR": (114, True),
    "PA": (120, False), "PH": (120, True), "PR": (120, True),
    "HA": (121, False), "HH": (121, True), "HR": (121, True),
    "MA": (100, False), "MH": (100, True), "MR": (100, True),
    "TA": (137, False), "TR": (137, True),
    "YT": (302, False), "YR": (302, True),
    "AT": (301, False), "AR": (301, True),
    "YC": (350, False), "YK": (350, True),
    "RP": (602, False), "RX": (601, False),
    "OP": (401, False), "CL": (401, True),
}
_EVENT = re.compile(r"^(?P<code>[A-Z]{2})(?P<zone>\d{0,4})(?:\^.*\^)?$")


def sia_events(account: str, data: str) -> list[ContactId]:
    """The events of a SIA-DCS data block (``#acct|Nri1/FA015/BA002``) as Contact ID reports;
    ValueError when none can be read."""
    text = data.partition("|")[2] if data.startswith("#") else data
    text = text.removeprefix("N")
    out: list[ContactId] = []
    area = 0
    for token in text.split("/"):
        if token.startswith("ri") and token[2:].isdigit():
            area = int(token[2:]) % 100
            continue
        if token.startswith(("id", "ti", "pi")) or not token:
            continue
        m = _EVENT.match(token)
        if m is None:
            raise ValueError(f"{token[:20]!r} is not a SIA event (two letters and a zone)")
        code, restore = SIA_CODES.get(m["code"], (UNKNOWN, False))
        out.append(ContactId(account, "18", "restore" if restore else "new", code, area,
                             int(m["zone"] or 0) % 1000))
    if not out:
        raise ValueError(f"no event in {data[:40]!r}")
    return out


def adm_cid_event(account: str, data: str) -> ContactId:
    """The event of an ADM-CID data block (``#acct|QXYZ GG CCC``); ValueError when unreadable."""
    text = data.partition("|")[2] if data.startswith("#") else data
    parts = text.split()
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise ValueError(f"{text[:30]!r} is not QXYZ GG CCC")
    qualifier = {"1": "new", "3": "restore", "6": "still_present"}.get(parts[0][0])
    if qualifier is None:
        raise ValueError(f"qualifier {parts[0][0]}: Contact ID has 1, 3 and 6")
    return ContactId(account, "18", qualifier, int(parts[0][1:]), int(parts[1]), int(parts[2]))
