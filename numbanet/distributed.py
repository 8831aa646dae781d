"""Data-parallel training over MPI, the way Horovod does it, on mpi4py (Open MPI underneath).

Every rank holds the whole model. model.fit(..., distributed=True) starts from rank 0's weights,
optimizer state and shuffling seed; each epoch every rank draws the same permutation and trains on its
shard perm[rank::size], batch_size rows per step (per rank, Horovod's convention). After each backward
pass the flat gradient buffer is averaged across ranks with one Allreduce, weighted by each rank's
share of the step's rows, so N ranks at batch B/N take the same steps as one process at batch B. Loss
and metrics are summed across ranks; only rank 0 prints.

A rank that raises takes the whole job down: fit aborts it, and once init() has run so does any exception
no one catches, however the script was launched. Before the first step the ranks compare what they are about
to do (the model's weights' shapes, the data's rows and feature shapes, batch size, epochs, steps) and refuse
to start, naming the ranks that differ and how, where they would otherwise hang or fail deep in MPI.

Launch: `mpirun -n 2 python -m mpi4py train.py` (as root add --allow-run-as-root, or set
OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). Importing numbanet never imports MPI; without
mpi4py, or in a single process, distributed=True trains exactly as a plain fit.
"""
import json
import os
import sys
import traceback
import warnings

import numpy as np

from numbanet.backend import is_device_array, to_numpy, write
from numbanet.threads import set_num_threads, thread_ceiling

_comm = None
_initialized = False


def init(threads=None):
    """Start MPI (when mpi4py is installed) and give each rank its share of the cores: cores divided by the
    ranks on this machine, so 2 ranks on 2 cores do not oversubscribe. Safe to call twice."""
    global _comm, _initialized
    if _initialized:
        return
    _initialized = True
    try:
        from mpi4py import MPI
    except ImportError:
        warnings.warn("mpi4py is not installed: training in this one process (pip install 'numbanet[mpi]')",
                      RuntimeWarning, stacklevel=2)
        return
    _comm = MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        sys.excepthook = _aborting(sys.excepthook)
    local = _comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    wanted = threads if threads is not None else max(1, (os.cpu_count() or 1) // local)
    set_num_threads(max(1, min(thread_ceiling(), wanted)))


def _aborting(previous):
    """An excepthook that ends the job: without it a rank that dies of an exception leaves the others
    waiting in a collective (or in MPI_Finalize) forever, unless the script ran under `python -m mpi4py`."""
    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"numbanet: rank {rank()} raised {kind.__name__}; aborting all {size()} ranks\n")
        sys.stderr.flush()
        _comm.Abort(1)
    return hook


def rank():
    return _comm.Get_rank() if _comm is not None else 0


def size():
    return _comm.Get_size() if _comm is not None else 1


def local_rank():
    if _comm is None:
        return 0
    from mpi4py import MPI
    return _comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()


def barrier():
    if _comm is not None:
        _comm.Barrier()


def _bcast_array(array, root):
    host = to_numpy(array) if is_device_array(array) else np.ascontiguousarray(array)
    _comm.Bcast(host, root=root)
    write(array, host)


def broadcast_weights(model, root=0):
    """Every rank takes root's weights and state (and, when compiled, its optimizer state)."""
    init()
    if size() == 1:
        return
    parameters = model.parameters
    _bcast_array(parameters.values, root)
    _bcast_array(parameters.state, root)
    opt = model.optimizer
    state = opt.state_for(parameters) if opt is not None else None
    if state is not None:
        for array in state.values():
            _bcast_array(array, root)
        opt.state_written()
        opt.iterations = _comm.bcast(opt.iterations, root=root)


class SingleProcess:
    """What fit exchanges with other processes each step, when there are none: nothing. fit talks to
    this or to DataParallel the same way, so one training step serves both."""

    rank, size = 0, 1

    def shard(self, order):
        return order

    def sum_pair(self, a, b):
        return a, b

    def average_gradients(self, grads, share):
        pass

    def reduce_metrics(self, metrics):
        pass

    def abort(self):
        pass  # the exception goes on to the caller


def communicator(model, distributed, plan=None):
    """SingleProcess, or DataParallel when distributed=True and MPI runs more than one rank. plan: what this
    rank is about to train on (rows, feature shapes, batch size, ...), which every rank must agree on."""
    if not distributed:
        return SingleProcess()
    init()
    return DataParallel(model, plan) if size() > 1 else SingleProcess()


def signature(model, plan=None):
    """What must be the same on every rank for their collectives to match, as plain JSON values."""
    opt = model.optimizer
    return {'weights': [[list(w.shape), str(w.dtype), w.trainable] for w in model.parameters.weights],
            'optimizer': None if opt is None else type(opt).__name__, **(plan or {})}


class DataParallel:
    """What fit needs from MPI each step: scalar sums, the gradient average, metric totals."""

    def __init__(self, model, plan=None):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = _comm
        self.rank, self.size = rank(), size()
        self._agree(signature(model, plan))
        self._pair = np.zeros(2, np.float64)
        self._host_grads = None
        broadcast_weights(model)  # fit has bound the weights and readied the optimizer already
        # Rank 0's generator state for every rank: all draw the same permutation each epoch, so the
        # shards never overlap, and the global batches are the ones one process would draw.
        state = self.comm.bcast(model.rng.bit_generator.state if self.rank == 0 else None, root=0)
        model.rng.bit_generator.state = state

    def _agree(self, mine):
        """Raise the same ValueError on every rank unless all of them hold the same signature."""
        everyone = [json.loads(s) for s in self.comm.allgather(json.dumps(mine, sort_keys=True))]
        differences = [f"{key}: rank 0 has {everyone[0].get(key)!r}, rank {r} has {theirs.get(key)!r}"
                       for r, theirs in enumerate(everyone) for key in sorted(set(everyone[0]) | set(theirs))
                       if everyone[0].get(key) != theirs.get(key)]
        if differences:
            raise ValueError("the ranks of fit(distributed=True) must train the same model on data of the same "
                             "layout, in the same steps; " + '; '.join(differences))

    def shard(self, order):
        return order[self.rank::self.size]

    def sum_pair(self, a, b):
        self._pair[0], self._pair[1] = a, b
        self.comm.Allreduce(self.MPI.IN_PLACE, self._pair, op=self.MPI.SUM)
        return float(self._pair[0]), int(round(self._pair[1]))

    def average_gradients(self, grads, share):
        """grads (this rank's mean gradient) -> the gradient of the mean over every rank's rows."""
        if is_device_array(grads):  # no CUDA-aware MPI assumed: through the host
            if self._host_grads is None or self._host_grads.shape != grads.shape:
                self._host_grads = np.empty(grads.shape, grads.dtype)
            grads.copy_to_host(self._host_grads)
            host = self._host_grads
        else:
            host = grads
        np.multiply(host, np.float32(share), out=host)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        if host is not grads:
            write(grads, host)

    def reduce_metrics(self, metrics):
        for m in metrics:
            self.comm.Allreduce(self.MPI.IN_PLACE, m.state, op=self.MPI.SUM)

    def abort(self):
        """A rank that raises takes the job down with its traceback instead of leaving the others waiting
        in the next Allreduce forever."""
        traceback.print_exc()
        sys.stderr.write(f"numbanet: rank {self.rank} failed; aborting all {self.size} ranks\n")
        sys.stderr.flush()
        self.comm.Abort(1)
