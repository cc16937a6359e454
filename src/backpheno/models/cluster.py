"""Where training's and explaining's parallel tasks run: local processes or a Dask cluster.

Nested-CV folds and permutations of every arm are joblib tasks
(:func:`~backpheno.models.cv.nested_cvs`, :func:`~backpheno.models.permutation.permutation_nulls`),
and so are explain's permutations and stability resamples. :func:`compute_backend` sends them to a
Dask cluster through joblib's Dask backend when a scheduler is given — the cluster extraction
uses (``scheduler_address``, :mod:`backpheno.cohort`) — and leaves the local process pool
otherwise. Every task carries its own seed and results are put back in task order, so the
results do not depend on where, or in which order, the tasks ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from joblib import parallel_config

#: ``scheduler_address`` value that starts a local Dask cluster for the run.
LOCAL = "local"


@contextmanager
def compute_backend(scheduler_address: Any = None, n_jobs: int = 1) -> Iterator[int]:
    """Run the joblib tasks inside on a Dask cluster (or locally); yields the ``n_jobs`` to use.

    Parameters
    ----------
    scheduler_address : str or distributed.Client, optional
        ``tcp://host:8786`` (a running scheduler; workers need the backpheno package),
        ``"local"`` (a :class:`distributed.LocalCluster` of ``n_jobs`` single-threaded worker
        processes for the duration), a ``distributed.Client``, or ``None`` (local processes).
    n_jobs : int
        Local worker processes (also the size of a ``"local"`` cluster).
    """
    if scheduler_address is None:
        yield n_jobs
        return
    from distributed import Client, LocalCluster

    cluster = None
    if isinstance(scheduler_address, Client):
        client, own = scheduler_address, False
    elif scheduler_address == LOCAL:
        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client, own = Client(cluster), True
    else:
        client, own = Client(scheduler_address), True
    try:
        with client.as_current(), parallel_config(backend="dask"):
            yield -1
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()
