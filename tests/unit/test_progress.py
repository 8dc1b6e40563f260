"""Progress of long work: a bar on a terminal; off a terminal a log line at most every 10 s, and one at the end."""

from __future__ import annotations

import io
import json

from app.core.logging import configure_logging
from app.core.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_off_a_terminal_a_line_every_ten_seconds_with_rate_and_eta() -> None:
    logs = io.StringIO()
    configure_logging("INFO", "json", "production", stream=logs)
    clock = Clock()
    progress = Progress("ingest", 4, weights=[100, 100, 100, 100], stream=io.StringIO(), tty=False, clock=clock)
    clock.now += 4
    progress.add_pages(20)
    progress.item_done("a.pdf")
    assert _lines(logs) == [], "no line before 10 s have passed"
    clock.now += 6
    progress.add_pages(30)  # 10 s in: 50 pages, 1 of 4 equal documents done
    clock.now += 5
    progress.add_pages(5)  # 5 s after the last line: quiet
    (line,) = _lines(logs)
    assert line["event"] == "ingest: 1/4 documents, 50 pages, 5.0 pages/s, ETA 0:30"
    assert (line["documents_done"], line["documents_total"], line["pages"]) == (1, 4, 50)
    assert line["eta_seconds"] == 30.0
    clock.now += 5
    progress.item_done("b.pdf")  # 20 s in, 2 of 4 done: ETA 20 s
    assert _lines(logs)[-1]["eta_seconds"] == 20.0
    progress.item_done("c.pdf")
    progress.item_done("d.pdf")
    progress.close()
    final = _lines(logs)[-1]
    assert final["event"] == "ingest: 4/4 documents, 55 pages, 2.8 pages/s, done in 0:20"
    assert len(_lines(logs)) == 3


def test_weights_make_the_eta_fair_to_big_files() -> None:
    clock = Clock()
    progress = Progress("ingest", 2, weights=[10, 90], stream=io.StringIO(), tty=False, clock=clock)
    clock.now += 10
    progress.item_done("small.pdf")
    assert progress.figures()["eta_seconds"] == 90.0


def test_before_anything_is_done_the_eta_is_unknown() -> None:
    logs = io.StringIO()
    configure_logging("INFO", "json", "production", stream=logs)
    clock = Clock()
    progress = Progress("ingest", 1, stream=io.StringIO(), tty=False, clock=clock)
    clock.now += 12
    progress.add_pages(7)
    assert (
        _lines(logs)[0]["event"]
        == "ingest: 0/1 documents, 7 pages, 0.6 pages/s, ETA unknown until the first of them is done"
    )


def test_on_a_terminal_a_bar_and_no_log_lines() -> None:
    logs, screen = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", "production", stream=logs)
    progress = Progress("eval retrieval", 3, unit="questions", stream=screen, tty=True)
    for _ in range(3):
        progress.item_done()
    progress.close()
    assert "eval retrieval" in screen.getvalue()
    assert "pages" not in screen.getvalue(), "questions have no pages"
    assert "3/3" in screen.getvalue()
    assert logs.getvalue() == ""


def test_disabled_says_nothing() -> None:
    logs, screen = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", "production", stream=logs)
    progress = Progress("eval", 1, stream=screen, tty=True, enabled=False)
    progress.item_done()
    progress.close()
    assert (logs.getvalue(), screen.getvalue()) == ("", "")
