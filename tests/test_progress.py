"""Progress without a terminal: a start line, every 10 %, and at least every LOG_EVERY_S."""

from __future__ import annotations

import logging

from backpheno import progress


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "backpheno"]


def test_logs_the_start_and_every_tenth(caplog):
    with caplog.at_level(logging.INFO, logger="backpheno"):
        with progress.progress_bar(20, "work") as advance:
            for _ in range(20):
                advance(1)
    messages = _messages(caplog)
    assert messages[0] == "work: 0/20"
    assert messages[1:] == [f"work: {k}/20" for k in range(2, 21, 2)]


def test_slow_items_are_logged_at_least_every_interval(caplog, monkeypatch):
    clock = iter(float(t) for t in range(0, 10_000, 6))  # 6 s per call
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="backpheno"):
        with progress.progress_bar(1000, "slow") as advance:
            for _ in range(3):
                advance(1)
    assert _messages(caplog) == ["slow: 0/1000", "slow: 1/1000", "slow: 2/1000", "slow: 3/1000"]
