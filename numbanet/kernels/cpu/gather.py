"""Copy the rows of a mini-batch out of the data set into the batch buffer, in the shuffled order.

Samples of any rank are copied as flat rows, by an explicit loop: `out[b] = src[i]` on whole rows compiled
numba's general array-assignment machinery, 2.2 s of a cold start against 0.3 s for the loop, at the same
speed once compiled."""
import numba

from numbanet.kernels import shapes
from numbanet.kernels.cpu._compiled import TABLE, slot_for
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import LO_HI, parallel_for, pool
from numbanet.kernels.cpu._split import parallel


def gather_rows(out, src, index):
    # out: (B, ...) or (B,); src: (N, ...) or (N,) with out's trailing axes; index: (B,) row numbers into src,
    # each checked. src may hold integers or bools (uint8 images): the copy casts them, a batch at a time, and
    # numba compiles one version per dtype pair it meets.
    shapes.batch_rows(out, src, index)
    if not out.flags.c_contiguous:  # reshaping would copy it, and the rows would land in the copy
        raise ValueError("gather_rows: the batch buffer must be C-contiguous")
    rows = out.reshape(out.shape[0], -1)
    flat = src.reshape(src.shape[0], -1)
    if parallel(rows.size):
        _gather_flat(pool(), TABLE, slot_for(_gather_rows, (rows, flat, index) + LO_HI), numba.get_num_threads(), rows,
                     flat, index)
    else:
        _gather_serial(rows, flat, index)


# Rows split between threads (_launch.py), after every index is checked (a body run on the threads must not
# raise): the rows come from all over the data set, so each is a wait on memory, and two threads wait in
# parallel. A 128 x 784 batch took 60-66 us on one thread, 32 on two (float32; uint8 31 against 14-19).
@njit(cache=True)
def _gather_flat(pool, table, slot, threads, out, src, index):
    # out: (B, C); src: (N, C)
    n = src.shape[0]
    for b in range(index.shape[0]):
        if index[b] < 0 or index[b] >= n:
            raise IndexError("gather_rows: row index outside the source")
    B = index.shape[0]
    parallel_for(pool, table, slot, B, (B + threads - 1) // threads, (out, src, index))


@njit(cache=True)
def _gather_rows(out, src, index, lo, hi):
    # Rows lo..hi of the batch, every index already checked.
    C = src.shape[1]
    for b in range(lo, hi):
        row, source = out[b], src[index[b]]
        for c in range(C):
            row[c] = source[c]


# Labels, one-hot targets, sample weights: too few values for a second thread to repay its wake-up, and one
# parallel kernel fewer to compile for a model whose inputs are of another dtype (0.3 s of the example's start).
@njit(cache=True)
def _gather_serial(out, src, index):
    # out: (B, C); src: (N, C)
    n, C = src.shape
    for b in range(index.shape[0]):
        i = index[b]
        if i < 0 or i >= n:
            raise IndexError("gather_rows: row index outside the source")
        row, source = out[b], src[i]
        for c in range(C):
            row[c] = source[c]
