"""Progress of long work (ingest, eval) for whoever watches: a bar on a terminal, a log line every 10 s elsewhere.

A 10,000-page ingest under a scheduler, in CI or piped to a file has no terminal: there a bar
prints nothing useful, so the same figures (items done / total, pages/s, ETA) go to the log at
most once per ``interval`` seconds, plus one line at the end.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from app.core.logging import get_logger

log = get_logger("pagewise.progress")

LOG_INTERVAL_SECONDS = 10.0


def _clock_text(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts items (documents, questions) and pages; ETA from the work done so far.

    ``weights`` (e.g. file sizes) make the ETA fair when items differ in size: the remaining
    weight times the time per unit of weight done so far.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "documents",
        weights: list[int] | None = None,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.pages = 0
        self._weights = weights or [1] * total
        self._weight_done = 0
        self._weight_total = max(sum(self._weights), 1)
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._interval = interval
        stream = stream or sys.stderr
        on_terminal = tty if tty is not None else bool(getattr(stream, "isatty", lambda: False)())
        self._enabled = enabled
        self._bar: Any = None
        if enabled and on_terminal:
            from tqdm import tqdm

            size = shutil.get_terminal_size()

            self._bar = tqdm(
                total=total,
                unit=unit[:-1] if unit.endswith("s") else unit,
                desc=label,
                file=stream,
                # a terminal that reports no size (a pty under a supervisor) would hide the bar as off-screen
                ncols=size.columns,
                nrows=size.lines,
            )

    def add_pages(self, pages: int) -> None:
        """Pages finished within the current item (called as they are written)."""
        self.pages += pages
        self._tick()

    def item_done(self, name: str = "") -> None:
        weight = self._weights[self.done] if self.done < len(self._weights) else 1
        self.done += 1
        self._weight_done += weight
        if self._bar is not None:
            self._bar.set_postfix_str(self._rates(), refresh=False)
            self._bar.update(1)
        self._tick()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            self._line(final=True)

    def figures(self) -> dict[str, Any]:
        elapsed = max(self._clock() - self._started, 1e-9)
        eta = None
        if self._weight_done:
            eta = round(elapsed / self._weight_done * (self._weight_total - self._weight_done), 1)
        return {
            f"{self.unit}_done": self.done,
            f"{self.unit}_total": self.total,
            "pages": self.pages,
            "pages_per_second": round(self.pages / elapsed, 1),
            "elapsed_seconds": round(elapsed, 1),
            "eta_seconds": eta,
        }

    def _rates(self) -> str:
        figures = self.figures()
        if self.unit != "documents":  # questions and the like have no pages
            per_second = self.done / max(figures["elapsed_seconds"], 1e-9)
            return f"{per_second:.1f} {self.unit}/s"
        return f"{figures['pages']} pages, {figures['pages_per_second']} pages/s"

    def _tick(self) -> None:
        if self._bar is not None or not self._enabled:
            return
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._line(final=False)

    def _line(self, *, final: bool) -> None:
        self._last_line = self._clock()
        figures = self.figures()
        head = f"{self.label}: {self.done}/{self.total} {self.unit}, {self._rates()}"
        if final:
            text = f"{head}, done in {_clock_text(figures['elapsed_seconds'])}"
        elif figures["eta_seconds"] is None:
            text = f"{head}, ETA unknown until the first of them is done"
        else:
            text = f"{head}, ETA {_clock_text(figures['eta_seconds'])}"
        log.info(text, **figures)
