"""Libraries speak from WARNING up unless LOG_LEVEL=DEBUG; Pagewise's own INFO lines always show."""

from __future__ import annotations

import io
import json
import logging

from app.core.logging import configure_logging, get_logger
from app.embed.local import _quiet_quantizer


def _events(level: str) -> list[tuple[str, str]]:
    stream = io.StringIO()
    configure_logging(level, "json", "production", stream=stream)
    get_logger("app.embed.local").info("ours at info")
    get_logger("pagewise.cli").info("cli at info")
    logging.getLogger("onnxruntime.quantization").info("library at info")
    logging.info("root at info")  # what the ONNX quantiser does
    logging.getLogger("urllib3").warning("library at warning")
    get_logger("app.main").debug("ours at debug")
    return [(line["logger"], line["event"]) for line in map(json.loads, stream.getvalue().splitlines())]


def test_library_info_lines_are_dropped_at_info() -> None:
    assert _events("INFO") == [
        ("app.embed.local", "ours at info"),
        ("pagewise.cli", "cli at info"),
        ("urllib3", "library at warning"),
    ]


def test_debug_shows_every_line() -> None:
    assert _events("DEBUG") == [
        ("app.embed.local", "ours at info"),
        ("pagewise.cli", "cli at info"),
        ("onnxruntime.quantization", "library at info"),
        ("root", "root at info"),
        ("urllib3", "library at warning"),
        ("app.main", "ours at debug"),
    ]


def test_the_quantizers_advice_on_the_root_logger_is_dropped_but_its_errors_are_not() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", "production", stream=stream)
    advice = logging.LogRecord(
        "root", logging.WARNING, "/x/onnxruntime/quantization/quantize.py", 1, "advice", None, None
    )
    failure = logging.LogRecord(
        "root", logging.ERROR, "/x/onnxruntime/quantization/quantize.py", 1, "broke", None, None
    )
    elsewhere = logging.LogRecord("root", logging.WARNING, "/x/other.py", 1, "other", None, None)
    with _quiet_quantizer():
        for record in (advice, failure, elsewhere):
            logging.getLogger().handle(record)
    logging.getLogger().handle(advice)  # after the block, nothing is filtered any more
    events = [line["event"] for line in map(json.loads, stream.getvalue().splitlines())]
    assert events == ["broke", "other", "advice"]
