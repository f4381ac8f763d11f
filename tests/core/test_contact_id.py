"""Contact ID reports: the verified examples, every way a report can be wrong, the meaning of
the codes, a cross-check against an independent decoder (pysiaalarm reading the same reports in
ADM-CID messages), and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pysiaalarm import SIAAccount, SIAEvent

from gateway.errors import DecodeError
from gateway.points.contact_id import ContactId, checksum_digit, meaning, parse

VERIFIED = {
    "1234181110010151": ContactId("1234", "18", "new", 110, 1, 15),
    "123418115101003E": ContactId("1234", "18", "new", 151, 1, 3),
    "123418315101003C": ContactId("1234", "18", "restore", 151, 1, 3),
    "1234181384010121": ContactId("1234", "18", "new", 384, 1, 12),
}


@pytest.mark.parametrize(("report", "expected"), VERIFIED.items())
def test_the_verified_examples(report: str, expected: ContactId) -> None:
    assert parse(report) == expected
    assert checksum_digit(report[:15]) == report[15]


@pytest.mark.parametrize(("report", "reason"), [
    ("1234181110010152", "bad_checksum"),
    ("123418111001015", "bad_length"),
    ("12341811100101G1", "bad_digits"),
    ("123417111001015" + checksum_digit("123417111001015"), "bad_message_type"),
    ("123418211001015" + checksum_digit("123418211001015"), "bad_qualifier"),
])
def test_what_is_wrong_with_a_report_is_named(report: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse(report)
    assert caught.value.reason == reason
    assert report[:8] in caught.value.detail or reason == "bad_length"


def test_codes_mean_their_category_and_unknown_ones_are_kept() -> None:
    assert (meaning(110).category, meaning(154).en) == ("alarm", "water leakage")
    assert (meaning(384).category, meaning(384).condition) == ("trouble", "low_battery")
    assert meaning(570).condition == "disabled"
    assert meaning(602).category == "test"
    assert meaning(188).category == "alarm"  # not in the table: by its range
    assert meaning(999).condition == "unknown_event_999"


def adm_cid(report: str) -> str:
    """The report in an ADM-CID DC-09 message, CRC by pysiaalarm's own code."""
    c = parse(report)
    qualifier = {"new": "1", "restore": "3", "still_present": "6"}[c.qualifier]
    body = (f'"ADM-CID"0001L0#{c.account}[#{c.account}|{qualifier}{c.code:03d} '
            f"{c.partition:02d} {c.zone:03d}]")
    return f"{SIAEvent._crc_calc(body)}{len(body):04X}{body}"  # noqa: SLF001


@pytest.mark.parametrize("report", list(VERIFIED))
def test_an_independent_decoder_reads_the_same_fields(report: str) -> None:
    event = SIAEvent.from_line(adm_cid(report), {"1234": SIAAccount("1234")})
    ours = parse(report)
    assert event.valid_message
    assert event.event_qualifier == {"new": "1", "restore": "3"}[ours.qualifier]
    assert int(str(event.event_type)) == ours.code
    assert int(str(event.partition)) == ours.partition
    assert int(str(event.ri)) == ours.zone


@given(st.text(alphabet="0123456789ABCDEFGabc \n", min_size=0, max_size=24))
def test_any_text_is_a_report_or_a_named_reason(text: str) -> None:
    reason = ""
    try:
        report = parse(text)
    except DecodeError as exc:
        reason = exc.reason
    else:
        assert 0 <= report.zone <= 999
        assert report.qualifier in {"new", "restore", "still_present"}
    assert reason == "" or reason.startswith("bad_")


@given(st.integers(0, 9999), st.sampled_from([1, 3, 6]), st.integers(0, 999),
       st.integers(0, 99), st.integers(0, 999))
def test_every_report_written_with_its_checksum_reads_back(account: int, qualifier: int,
                                                          code: int, partition: int,
                                                          zone: int) -> None:
    first = f"{account:04d}18{qualifier}{code:03d}{partition:02d}{zone:03d}"
    report = parse(first + checksum_digit(first))
    assert (report.code, report.partition, report.zone) == (code, partition, zone)
