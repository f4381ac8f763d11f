"""A refusal of the API in its one shape: ``{"error": English, "code": ..., "params": ...}``.
The page says it in the operator's language from the code (its ``refusal.<code>`` texts),
filling in the params (each ``{"zh": ..., "en": ...}``); the English is for scripts and logs."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException


def refused(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
            **params: str) -> HTTPException:
    return HTTPException(status, {"error": message, "code": code,
                                  "params": {k: {"zh": v, "en": v} for k, v in params.items()}},
                         headers=dict(headers) if headers else None)
