from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from app.core.logging import configure_logging, get_logger
from app.core.masking import MASK, mask, mask_text


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("Authorization: Bearer abcdef0123456789xyz", "abcdef0123456789xyz"),
        ("key pgw_AbCdEf0123456789_-zz used", "AbCdEf0123456789_-zz"),
        ("openai sk-proj-abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("groq gsk_abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("google AIzaSyA1234567890abcdefghijklmno", "SyA1234567890abcdefghijklmno"),
        ("postgresql://app:s3cr3t-pw@db.internal:5432/x", "s3cr3t-pw"),
        ("login with password=hunter2 now", "hunter2"),
        ('{"api_key": "zzz-top-secret"}', "zzz-top-secret"),
        ("mail jane.doe+rag@example.co.uk please", "jane.doe+rag@example.co.uk"),
    ],
)
def test_mask_text_hides_secrets(raw: str, secret: str) -> None:
    masked = mask_text(raw)
    assert secret not in masked
    assert MASK in masked or "<email>" in masked


def test_mask_keeps_ordinary_text() -> None:
    text = "What was the revenue in 2023 on page 12?"
    assert mask_text(text) == text


def test_mask_recurses_and_masks_secret_keys() -> None:
    value = {"headers": {"Authorization": "xyz", "accept": "json"}, "items": ["a@b.io", 3], "password": "p"}
    masked = mask(value)
    assert masked["headers"]["Authorization"] == MASK
    assert masked["headers"]["accept"] == "json"
    assert masked["items"] == ["<email>", 3]
    assert masked["password"] == MASK


def test_json_logs_are_masked_and_carry_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", "production", stream=stream)
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        get_logger("app.test").info("calling provider", api_key="sk-abcdefghijklmnop1234", user="jane@example.com")
        logging.getLogger("thirdparty").warning("connecting to postgresql://u:pw123456@h/db")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "calling provider"
    assert lines[0]["request_id"] == "req-1"
    assert lines[0]["api_key"] == MASK
    assert lines[0]["user"] == "<email>"
    assert "pw123456" not in lines[1]["event"]
    assert lines[1]["level"] == "warning"
