"""Contact ID (SIA DC-05): the 16-digit report of an alarm panel, ``ACCT MT Q XYZ GG CCC S``.

- ``ACCT`` account (4 digits), ``MT`` message type (18 or 98), ``Q`` qualifier (1 new event or
  opening, 3 restore or closing, 6 previously reported and still present), ``XYZ`` the event
  code, ``GG`` partition, ``CCC`` zone (or user), ``S`` the checksum digit.
- Digits are hex-ish: ``0`` is written ``A``, and B-F occur in accounts. The checksum: the
  digit values (0 counting as 10) of all 16 digits sum to a multiple of 15.

``parse`` reads one report or raises ``DecodeError`` (``bad_length``, ``bad_digits``,
``bad_checksum``, ``bad_message_type``, ``bad_qualifier``) naming what is wrong. ``meaning``
says what an event code is: its category and, for troubles, the condition it raises; a code
not in the table is ``unknown`` and is still reported (never dropped)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import DecodeError

DIGITS = "0123456789ABCDEF"
QUALIFIERS = {"1": "new", "3": "restore", "6": "still_present"}


@dataclass(frozen=True, slots=True)
class ContactId:
    account: str
    message_type: str
    qualifier: str  # new | restore | still_present
    code: int
    partition: int
    zone: int

    @property
    def restore(self) -> bool:
        return self.qualifier == "restore"


@dataclass(frozen=True, slots=True)
class Meaning:
    category: str  # alarm | supervisory | trouble | open_close | bypass | test | unknown
    condition: str = ""  # for troubles, supervisory and bypass: the condition it raises
    en: str = ""


def _value(digit: str) -> int:
    return 10 if digit == "0" else int(digit, 16)


def parse(text: str) -> ContactId:
    report = text.strip().upper()
    if len(report) != 16:
        raise DecodeError("bad_length", f"a Contact ID report has 16 digits; {len(report)} "
                          f"given ({report[:40]!r})")
    if any(c not in DIGITS for c in report):
        raise DecodeError("bad_digits", f"{report!r} has characters that are not digits 0-9 "
                          "or A-F")
    if sum(_value(c) for c in report) % 15:
        raise DecodeError("bad_checksum", f"{report!r}: its digits do not sum to a multiple "
                          "of 15")
    account = report[:4]
    body = report[4:15].replace("A", "0")  # in the fields, A stands for 0
    message_type, qualifier = body[:2], body[2]
    if message_type not in ("18", "98"):
        raise DecodeError("bad_message_type", f"{report!r}: message type {message_type}, "
                          "Contact ID is 18 or 98")
    if qualifier not in QUALIFIERS:
        raise DecodeError("bad_qualifier", f"{report!r}: qualifier {qualifier}, Contact ID "
                          "has 1 (new), 3 (restore) and 6 (still present)")
    try:
        code, partition, zone = int(body[3:6]), int(body[6:8]), int(body[8:11])
    except ValueError:
        raise DecodeError("bad_digits", f"{report!r}: event, partition and zone are decimal "
                          "digits") from None
    return ContactId(account, message_type, QUALIFIERS[qualifier], code, partition, zone)


def checksum_digit(first15: str) -> str:
    """The 16th digit that makes a report's checksum right (for simulators and tests)."""
    rest = sum(_value(c) for c in first15.upper()) % 15
    value = 15 - rest if rest else 15
    return "0" if value == 10 else DIGITS[value]


# the codes a monitoring center sees most, in its own words (SIA DC-05 ranges)
_CODES: dict[int, Meaning] = {
    100: Meaning("alarm", en="medical"),
    110: Meaning("alarm", en="fire"),
    111: Meaning("alarm", en="smoke"),
    112: Meaning("alarm", en="combustion"),
    113: Meaning("alarm", en="water flow"),
    114: Meaning("alarm", en="heat"),
    115: Meaning("alarm", en="pull station"),
    116: Meaning("alarm", en="duct"),
    117: Meaning("alarm", en="flame"),
    118: Meaning("alarm", en="near alarm"),
    120: Meaning("alarm", en="panic"),
    121: Meaning("alarm", en="duress"),
    122: Meaning("alarm", en="silent panic"),
    123: Meaning("alarm", en="audible panic"),
    130: Meaning("alarm", en="burglary"),
    131: Meaning("alarm", en="perimeter"),
    132: Meaning("alarm", en="interior"),
    133: Meaning("alarm", en="24-hour zone"),
    134: Meaning("alarm", en="entry/exit"),
    137: Meaning("trouble", "tamper", "tamper"),
    140: Meaning("alarm", en="general alarm"),
    144: Meaning("trouble", "tamper", "sensor tamper"),
    150: Meaning("alarm", en="24-hour non-burglary"),
    151: Meaning("alarm", en="gas"),
    154: Meaning("alarm", en="water leakage"),
    158: Meaning("alarm", en="high temperature"),
    159: Meaning("alarm", en="low temperature"),
    162: Meaning("alarm", en="carbon monoxide"),
    200: Meaning("supervisory", "supervisory", "fire supervisory"),
    201: Meaning("supervisory", "supervisory", "low water pressure"),
    203: Meaning("supervisory", "supervisory", "gate valve"),
    204: Meaning("supervisory", "supervisory", "low water level"),
    205: Meaning("supervisory", "supervisory", "pump activated"),
    206: Meaning("trouble", "fault", "pump failure"),
    300: Meaning("trouble", "fault", "system trouble"),
    301: Meaning("trouble", "main_power_fault", "AC loss"),
    302: Meaning("trouble", "low_battery", "low system battery"),
    305: Meaning("test", en="system reset"),
    309: Meaning("trouble", "low_battery", "battery test failure"),
    311: Meaning("trouble", "low_battery", "battery missing"),
    321: Meaning("trouble", "fault", "bell"),
    330: Meaning("trouble", "fault", "peripheral"),
    350: Meaning("trouble", "center_link_fault", "communication"),
    370: Meaning("trouble", "fault", "protection loop"),
    373: Meaning("trouble", "fault", "fire trouble"),
    380: Meaning("trouble", "sensor_fault", "sensor trouble"),
    381: Meaning("trouble", "fault", "loss of supervision (RF)"),
    383: Meaning("trouble", "tamper", "sensor tamper"),
    384: Meaning("trouble", "low_battery", "RF low battery"),
    401: Meaning("open_close", en="open/close by user"),
    403: Meaning("open_close", en="automatic open/close"),
    407: Meaning("open_close", en="remote arm/disarm"),
    570: Meaning("bypass", "disabled", "zone bypass"),
    571: Meaning("bypass", "disabled", "fire bypass"),
    572: Meaning("bypass", "disabled", "24-hour zone bypass"),
    573: Meaning("bypass", "disabled", "burglary bypass"),
    601: Meaning("test", en="manual test"),
    602: Meaning("test", en="periodic test"),
    607: Meaning("test", en="walk test"),
}
_RANGES = (  # where a code is not in the table: its category by its range
    (100, 200, Meaning("alarm", en="alarm")),
    (200, 300, Meaning("supervisory", "supervisory", "supervisory")),
    (300, 400, Meaning("trouble", "fault", "trouble")),
    (400, 500, Meaning("open_close", en="open/close")),
    (500, 600, Meaning("bypass", "disabled", "bypass / disable")),
    (600, 700, Meaning("test", en="test")),
)


def meaning(code: int) -> Meaning:
    known = _CODES.get(code)
    if known is not None:
        return known
    for low, high, category in _RANGES:
        if low <= code < high:
            return category
    return Meaning("unknown", f"unknown_event_{code:03d}", f"unknown event {code:03d}")
