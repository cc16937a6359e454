"""Progress display and process-parallel mapping for long work.

:func:`parallel_map` runs a function over items with joblib processes (or in-process for
``n_jobs=1``), shows a rich progress bar on a terminal and logs milestones otherwise, and returns
results in input order.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from joblib import Parallel, delayed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger("backpheno")

#: Without a terminal, progress is logged at least this often (seconds) while items finish.
LOG_EVERY_S = 5.0


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n=1)`` function that moves a progress display forward.

    On a terminal a rich bar is drawn on stderr; otherwise progress is logged when the work
    starts, at every 10 % and at least every :data:`LOG_EVERY_S` seconds while items finish.
    """
    console = Console(stderr=True)
    if console.is_terminal and total > 0:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)
        return
    state = {"done": 0, "tenth": 1, "logged": time.monotonic()}
    if total > 1:
        logger.info("%s: 0/%d", description, total)

    def advance(n: int = 1) -> None:
        state["done"] += n
        due = time.monotonic() - state["logged"] >= LOG_EVERY_S
        if total and (10 * state["done"] >= state["tenth"] * total or due):
            logger.info("%s: %d/%d", description, state["done"], total)
            state["logged"] = time.monotonic()
            while 10 * state["done"] >= state["tenth"] * total:
                state["tenth"] += 1

    yield advance


def parallel_map(func: Callable[..., R], items: Sequence[T], n_jobs: int = 1,
                 description: str = "working", **kwargs: Any) -> list[R]:
    """Apply ``func(item, **kwargs)`` to every item, in parallel processes when ``n_jobs > 1``.

    Parameters
    ----------
    func : callable
        A picklable function.
    items : sequence
        Inputs; results come back in the same order.
    n_jobs : int
        Number of worker processes; 1 runs in this process.
    description : str
        Label of the progress display.
    **kwargs
        Passed to every call.
    """
    results: list[Any] = [None] * len(items)
    with progress_bar(len(items), description) as advance:
        if n_jobs == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                results[i] = func(item, **kwargs)
                advance(1)
            return results
        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        # keyword arguments passed one by one: joblib's Dask backend then sends each large
        # one (a DataFrame) to the cluster once per call instead of with every task
        calls = (delayed(_indexed)(func, i, item, **kwargs) for i, item in enumerate(items))
        for i, value in runner(calls):
            results[i] = value
            advance(1)
    return results


def _indexed(func: Callable[..., R], i: int, item: Any, /, **kwargs: Any) -> tuple[int, R]:
    return i, func(item, **kwargs)


_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def setup_logging(log_file: str | Path | None = None, verbose: bool = False) -> None:
    """Log backpheno messages to stderr (and to ``log_file`` if given, see :func:`log_to_file`)."""
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(getattr(h, "_backpheno_stderr", False) for h in logger.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(_FORMAT)
        stream._backpheno_stderr = True  # type: ignore[attr-defined]
        logger.addHandler(stream)
    if log_file is not None:
        log_to_file(log_file)


def log_to_file(path: str | Path) -> logging.Handler:
    """Also write backpheno messages, and every Python warning, to ``path``.

    Library warnings (convergence, small-site notes, pandas deprecations) then go to the run's
    log file instead of flooding the terminal. Undo with :func:`stop_logging_to`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_FORMAT)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.propagate = False
    warnings_logger.addHandler(handler)
    return handler


def stop_logging_to(handler: logging.Handler) -> None:
    """Detach a handler made by :func:`log_to_file` and close its file."""
    logger.removeHandler(handler)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.removeHandler(handler)
    if not warnings_logger.handlers:
        logging.captureWarnings(False)
        warnings_logger.propagate = True
    handler.close()
