"""Each register tile of the GEMM (_microtile.py, named in _tiles.py) on its own: against numpy, at odd offsets
and k ranges, from zeros, a bias or C, for C-contiguous operands (vector loads and stores) and strided ones
(scalar loads and stores, which must give the same bits), and touching no cell of C outside its block."""
import numpy as np
import pytest
from numba import njit

from numbanet.kernels.cpu import _tiles

FULL = [('tile_4xNR', 4, 64), ('tile_6xNR', 6, 64), ('tile_6xNH', 6, 32), ('tile_4xNH', 4, 32), ('tile_1xNR', 1, 64),
        ('tile_1xNW', 1, 256)]
EDGE = [('tile_4xNE', 4), ('tile_1xNE', 1)]
SENTINEL = np.float32(-7.25)


def _runner(name, edge):
    fn = getattr(_tiles, name)
    if edge:
        return njit(lambda C, A, B, bias, acc, i0, j0, cols, k0, k1: fn(C, A, B, bias, acc, i0, j0, cols, k0, k1))
    return njit(lambda C, A, B, bias, acc, i0, j0, cols, k0, k1: fn(C, A, B, bias, acc, i0, j0, k0, k1))


def _case(rng, rows, cols, mode, strided):
    M, N, K = rows + 5, cols + 37, 23
    A = rng.standard_normal((M, K), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    bias = rng.standard_normal(N, dtype=np.float32) if mode == 'bias' else np.zeros(0, np.float32)
    C = np.full((M, N), SENTINEL, np.float32)
    C[2:2 + rows, 19:19 + cols] = rng.standard_normal((rows, cols), dtype=np.float32)
    if strided:
        B = np.repeat(B, 2, axis=1)[:, ::2]  # every other value of a wider array: not contiguous along a row
        C = np.asfortranarray(C)
        A = np.asfortranarray(A)
    return A, B, bias, C


def _expect(A, B, bias, C, mode, rows, cols, k0, k1):
    block = np.asarray(C, np.float64)[2:2 + rows, 19:19 + cols]
    start = block if mode == 'accumulate' else (bias[19:19 + cols] + 0 * block if mode == 'bias' else 0 * block)
    return start + A[2:2 + rows, k0:k1].astype(np.float64) @ B[k0:k1, 19:19 + cols].astype(np.float64)


def _run_both(rng, name, rows, cols, mode, edge):
    run = _runner(name, edge)
    outs = []
    for strided in (False, True):
        A, B, bias, C = _case(np.random.default_rng(rng), rows, cols, mode, strided)
        expect = _expect(A, B, bias, C, mode, rows, cols, 3, 20)
        before = C.copy()
        run(C, A, B, bias, mode == 'accumulate', 2, 19, cols, 3, 20)
        np.testing.assert_allclose(C[2:2 + rows, 19:19 + cols], expect, rtol=1e-5, atol=1e-5)
        outside = np.ones(C.shape, bool)
        outside[2:2 + rows, 19:19 + cols] = False
        assert np.array_equal(C[outside], before[outside]), 'a tile wrote outside its block'
        outs.append(np.array(C))
    assert np.array_equal(outs[0], outs[1]), 'strided operands gave other bits than contiguous ones'


@pytest.mark.parametrize('name,rows,cols', FULL)
@pytest.mark.parametrize('mode', ['zeros', 'bias', 'accumulate'])
def test_full_tiles(name, rows, cols, mode):
    _run_both(1, name, rows, cols, mode, edge=False)


@pytest.mark.parametrize('name,rows', EDGE)
@pytest.mark.parametrize('cols', [1, 7, 16])
@pytest.mark.parametrize('mode', ['zeros', 'bias', 'accumulate'])
def test_edge_tiles(name, rows, cols, mode):
    _run_both(2, name, rows, cols, mode, edge=True)


def test_edge_tile_reads_nothing_past_its_columns():
    # NaN just past the tile's columns in B and in the bias: a lane read there would spread into the sums.
    run = _runner('tile_4xNE', True)
    for strided in (False, True):
        A, B, bias, C = _case(np.random.default_rng(3), 4, 5, 'bias', strided)
        B[:, 24:] = np.nan
        bias[24:] = np.nan
        run(C, A, B, bias, False, 2, 19, 5, 0, 23)
        assert np.isfinite(C[2:6, 19:24]).all()


def test_empty_k_range_leaves_the_start_value():
    run = _runner('tile_4xNR', False)
    A, B, bias, C = _case(np.random.default_rng(4), 4, 64, 'bias', False)
    run(C, A, B, bias, False, 2, 19, 64, 9, 9)
    assert np.array_equal(C[2:6, 19:83], np.repeat(bias[None, 19:83], 4, 0))
