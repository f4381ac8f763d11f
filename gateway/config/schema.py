"""Pydantic pieces shared by the site config and the playbooks, and error translation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from gateway.config.yamlfile import LineIndex, format_path
from gateway.domain.model import Text
from gateway.errors import ConfigSchemaError, Problem

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_NEGATIVE = "a duration cannot be negative: give the time to wait, e.g. 500ms, 90s, 3m"


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"3m"``, ``"25h"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '3m', '90s', '25h'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(_NEGATIVE)
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if _DURATION.match(value.strip().removeprefix("-")):
            raise ValueError(_NEGATIVE)
    raise ValueError(f"{value!r} is not a duration (write e.g. 90s, 3m, 25h)")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TextModel(Strict):
    zh: str
    en: str

    def to_text(self) -> Text:
        return Text(self.zh, self.en)


def _coerce_text(value: Any) -> Any:
    if isinstance(value, str):
        return {"zh": value, "en": value}
    return value


BiText = Annotated[TextModel, BeforeValidator(_coerce_text)]


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    """"unknown role 'patrol' (known: ...)", listing at most eight of the known names."""
    names = sorted(known)
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"unknown {what} {name!r} (known: {shown or 'none'})"


def schema_problems(exc: ValidationError, file: Path, lines: LineIndex,
                    prefix: tuple[str | int, ...] = ()) -> ConfigSchemaError:
    """Turn pydantic's errors into problems that name file, line and field path."""
    problems = []
    for err in exc.errors():
        loc = (*prefix, *(part for part in err["loc"] if not _is_union_tag(part)))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see the config reference in the README)"
        elif err["type"] == "missing":
            message = "required field is missing"
        problems.append(Problem(str(file), format_path(loc), message, lines.line(loc)))
    return ConfigSchemaError(problems)


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the name of the union member / validator in the location; the user never
    # wrote it, so it must not appear in the field path.
    return isinstance(part, str) and (
        part.startswith(("function-", "tagged-union")) or part in {"str", "TextModel"}
    )


class LocationModel(Strict):
    site: str | None = None
    building: str = ""
    floor: str = ""
    zone: str = ""
    unit: str = ""

    @field_validator("building", "floor", "zone", "unit", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value
