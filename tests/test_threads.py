"""numbanet.threads: the thread count, and its checks."""

import pytest

import numbanet


def test_set_num_threads_validates():
    numbanet.set_num_threads(1)
    assert numbanet.get_num_threads() == 1
    numbanet.set_num_threads(numbanet.threads.numba.config.NUMBA_NUM_THREADS)
    with pytest.raises(ValueError, match='positive int'):
        numbanet.set_num_threads(0)
    with pytest.raises(ValueError, match='at most'):
        numbanet.set_num_threads(10_000)
