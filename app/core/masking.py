"""Masks secrets and personal data in anything we log or trace, so logs can be shared safely.

Covers API keys (ours and the providers'), bearer tokens, passwords in URLs and key=value
pairs, and email addresses. Keys of mappings that name a secret are masked whatever the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|credential|private[_-]?key)", re.IGNORECASE
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <token>
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), r"\1:" + MASK + "@"),
    # password=..., api_key: ..., "token": "..."
    (
        re.compile(
            r"(?i)(\b(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        r"\1" + MASK,
    ),
    # well-known key shapes: Pagewise (pgw_), OpenAI/OpenRouter (sk-), Groq (gsk_), Google (AIza), Langfuse (sk-lf-/pk-lf-)
    (re.compile(r"\b(pgw|gsk)_[A-Za-z0-9_-]{12,}"), r"\1_" + MASK),
    (re.compile(r"\b(sk|pk)-(?:lf-|or-v1-|proj-)?[A-Za-z0-9_-]{12,}"), r"\1-" + MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), "AIza" + MASK),
    # emails
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "<email>"),
)


def mask_text(text: str) -> str:
    """Return ``text`` with every recognised secret or email replaced by a mask."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask(value: Any, _depth: int = 0) -> Any:
    """Mask secrets in strings, and recursively in mappings and sequences (bounded depth)."""
    if _depth > 8:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            key: (MASK if isinstance(key, str) and _SECRET_KEY.search(key) and val else mask(val, _depth + 1))
            for key, val in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(mask(item, _depth + 1) for item in value)
    return value
