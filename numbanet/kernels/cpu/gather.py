"""Copy the rows of a mini-batch out of the data set into the batch buffer, in the shuffled order."""
from numba import njit


@njit(cache=True)
def gather_rows(out, src, index):
    # out: (B, C) or (B,); src: (N, C) or (N,); index: (B,) row numbers into src, each checked.
    n = src.shape[0]
    for b in range(index.shape[0]):
        i = index[b]
        if i < 0 or i >= n:
            raise IndexError("gather_rows: row index outside the source")
        out[b] = src[i]
