"""The Dask connection shared by dask_classify.py and dask_train.py (a module, not a script)."""
import contextlib


@contextlib.contextmanager
def dask_client(scheduler, workers):
    """A Client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    with one thread each; closed (and the cluster stopped) on leaving."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
