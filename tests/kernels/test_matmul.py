"""The hand-written matmul against numpy and against its plain reference, on shapes that are not
multiples of any tile (6 x 64, 4 x 64, 4 x 32 and 16-wide tiles), in every mode."""
import subprocess
import sys

import numpy as np
import pytest

from numbanet.kernels.cpu._compiled import TABLE
from numbanet.kernels.cpu._launch import pool
from numbanet.kernels.cpu import _packed, _tiles
from numbanet.kernels.cpu import matmul as g

SHAPES = [(1, 1, 1), (7, 13, 5), (1, 784, 256), (1, 20, 600), (3, 64, 64), (5, 17, 65), (129, 257, 70), (130, 33, 10),
          (7, 9, 333),
          (4, 0, 9), (64, 128, 81),
          (53, 40, 100), (101, 19, 224),  # long enough for the 6-row tiles, with half and edge tiles beside them
          (49, 600, 1037), (5, 70, 1100)]  # more columns than one panel of B (NC = 512): three panels, ragged last


def _operands(rng, M, K, N):
    A = rng.standard_normal((M, K), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    bias = rng.standard_normal(N, dtype=np.float32)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    return A, B, bias, C0


@pytest.mark.parametrize('M,K,N', SHAPES)
@pytest.mark.parametrize('mode', ['plain', 'bias', 'accumulate'])
def test_gemm_matches_numpy_and_reference(rng, M, K, N, mode):
    A, B, bias, C0 = _operands(rng, M, K, N)
    b = bias if mode == 'bias' else None
    acc = mode == 'accumulate'
    expect = A.astype(np.float64) @ B.astype(np.float64)
    if mode == 'bias':
        expect += bias
    if acc:
        expect += C0
    C = C0.copy()
    g.gemm(C, A, B, b, acc)
    R = C0.copy()
    g.gemm_reference(R, A, B, b, acc)
    tol = 1e-5 * max(1, K) ** 0.5 * 4
    np.testing.assert_allclose(C, expect, rtol=tol, atol=tol)
    np.testing.assert_allclose(C, R, rtol=tol, atol=tol)


@pytest.mark.parametrize('M,K,N', [(7, 13, 5), (129, 257, 70)])
def test_gemm_takes_transposed_a_without_copy(rng, M, K, N):
    # dense_backward passes inp.T, an F-ordered view, as A
    A = rng.standard_normal((K, M), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    C = np.empty((M, N), np.float32)
    g.gemm(C, A.T, B)
    np.testing.assert_allclose(C, A.T @ B, rtol=1e-4, atol=1e-4)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    C = C0.copy()
    g.gemm_at(C, A, B, accumulate=True)  # the weight gradient's form: A stored (K, M)
    np.testing.assert_allclose(C, C0 + A.T @ B, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('threads', [1, 2])
def test_empty_products_do_nothing(threads):
    # No rows or no columns: nothing to compute, on the serial and on the threaded entry alike.
    for (M, K, N) in ((0, 3, 5), (4, 3, 0), (0, 0, 0)):
        C, A, B = np.zeros((M, N), np.float32), np.ones((M, K), np.float32), np.ones((K, N), np.float32)
        body = _tiles.body_for(_tiles.gemm_rows, C, A, B, _tiles.NO_BIAS)
        _tiles.gemm_entry(C, A, B, _tiles.NO_BIAS, False, False, False, TABLE, body, False, threads, pool())
        g.gemm(C, A, B)
        assert C.shape == (M, N)


@pytest.mark.parametrize('K', [300, 1100])  # 1100: three passes over k (KC = 512)
@pytest.mark.parametrize('N', [133, 1037])
@pytest.mark.parametrize('relu', [False, True])
def test_serial_and_parallel_are_bitwise_equal(rng, K, N, relu):
    # Each C element is summed by one thread in one order, whatever the thread count.
    A, B, bias, C0 = _operands(rng, 131, K, N)
    C1, C2, C3 = C0.copy(), C0.copy(), C0.copy()
    body = _tiles.body_for(_tiles.gemm_rows, C1, A, B, bias)
    _tiles.gemm_rows(C1, A, B, bias, False, relu, 0, C1.shape[0])
    _tiles.gemm_entry(C2, A, B, bias, False, relu, False, TABLE, body, False, 2, pool())
    _tiles.gemm_entry(C3, A, B, bias, False, relu, False, TABLE, body, False, 3, pool())
    assert np.array_equal(C1, C2) and np.array_equal(C1, C3)


@pytest.mark.parametrize('M,K,N', [(1, 1100, 300), (7, 1030, 33), (130, 9, 32), (5, 513, 96), (13, 1100, 1100),
                                   (50, 530, 1090), (1, 600, 1300)])
@pytest.mark.parametrize('accumulate', [False, True])
def test_fused_relu_and_long_k(rng, M, K, N, accumulate):
    # Past KC the tiles restart from C for every pass over k; ReLU applies once, after the last pass.
    A, B, bias, C0 = _operands(rng, M, K, N)
    C = C0.copy()
    g.gemm(C, A, B, bias, accumulate, relu=True)
    want = (C0 if accumulate else bias) + A.astype(np.float64) @ B
    np.testing.assert_allclose(C, np.maximum(want, 0), rtol=1e-4, atol=1e-3)
    assert (C >= 0).all()


@pytest.mark.parametrize('M', [1, 5, 32, 37, 53, 130])  # one row; 4-row tiles and a single row; 6-row tiles
@pytest.mark.parametrize('K', [70, 1100])
@pytest.mark.parametrize('mode', ['bias', 'accumulate', 'relu'])
def test_packed_products_give_the_bits_of_the_strided_tiles(rng, M, K, mode):
    # The packed body (_packed.py), on any thread count, and the strided tiles of _tiles.py on column slices of B
    # must give the very same bits: the copies change where B is read from, not the order of the sums.
    N = 1100  # two full blocks of NC columns and a ragged third: 64-, 32- and 16-wide tiles
    A, _, bias, C0 = _operands(rng, M, K, N)
    B = rng.standard_normal((K, 2048), dtype=np.float32)[:, :N]  # rows 8 KB apart: gemm() packs it at K = 1100
    acc, relu = np.bool_(mode == 'accumulate'), np.bool_(mode == 'relu')
    b = _tiles.NO_BIAS if acc else bias
    strided = C0.copy()
    for j0 in range(0, N, 380):
        j1 = min(N, j0 + 380)
        part = C0[:, j0:j1].copy()  # (a copy even where the slice is contiguous: one row)
        Bj, bj = np.ascontiguousarray(B[:, j0:j1]), b[j0:j1] if b.shape[0] else b
        body = _tiles.body_for(_tiles.gemm_rows, part, A, Bj, bj)
        _tiles.gemm_entry(part, A, Bj, bj, acc, relu, False, TABLE, body, False, 1, pool())
        strided[:, j0:j1] = part
    for threads in (1, 2, 3):
        C = C0.copy()
        body = _tiles.body_for(_packed.packed_columns, C, A, B, b)
        _tiles.gemm_entry(C, A, B, b, acc, relu, False, TABLE, body, True, threads, pool())
        assert np.array_equal(C, strided), threads
    C = C0.copy()
    assert _packed.packs(C, B) == (K >= _packed.PACK_MIN_K and M >= _packed.PACK_MIN_ROWS)
    g.gemm(C, A, B, None if acc else bias, acc, relu)
    assert np.array_equal(C, strided)
    want = (C0 if acc else bias) + A.astype(np.float64) @ B
    np.testing.assert_allclose(C, np.maximum(want, 0) if relu else want, rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize('width,K,packed', [(1024, 784, True), (2048, 512, True), (3072, 600, True),
                                            (1024, 511, False), (1100, 784, False), (1536, 784, False),
                                            (512, 784, False)])
def test_packed_products_are_those_whose_b_rows_share_cache_sets(width, K, packed):
    # Rows a multiple of 4 KB apart, over a long k: there the copies repay themselves (_packed.py, measured).
    C, B = np.empty((128, width), np.float32), np.empty((K, width), np.float32)
    assert _packed.packs(C, B) == packed
    assert not _packed.packs(C[:_packed.PACK_MIN_ROWS - 1], B)


def test_packed_weight_gradient_reads_a_transposed(rng):
    A_t, B = rng.standard_normal((600, 53), dtype=np.float32), rng.standard_normal((600, 1024), dtype=np.float32)
    C0 = rng.standard_normal((53, 1024), dtype=np.float32)
    C = C0.copy()
    assert _packed.packs(C, B)
    g.gemm_at(C, A_t, B, accumulate=True)
    np.testing.assert_allclose(C, C0 + A_t.T.astype(np.float64) @ B, rtol=1e-4, atol=1e-3)


def test_packed_product_of_a_strided_b(rng):
    # Every other column of a wider array: rows 16 KB apart, columns 8 bytes (the copy reads B by its strides).
    wide = rng.standard_normal((600, 4096), dtype=np.float32)
    B = wide[:, ::2]
    A = rng.standard_normal((40, 600), dtype=np.float32)
    C = np.empty((40, 2048), np.float32)
    assert _packed.packs(C, B)
    g.gemm(C, A, B)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=1e-4, atol=1e-3)


def test_packed_product_runs_on_a_thread_with_a_small_stack():
    # The packed block lives on the calling thread's stack: a thread made with a small stack must not crash
    # (a 256 KB block did, in a subprocess, so a crash fails this test instead of ending the run).
    code = ("import threading, numpy as np\n"
            "from numbanet.kernels.cpu import matmul\n"
            "A, B = np.ones((64, 700), np.float32), np.ones((700, 1024), np.float32)\n"
            "C = np.zeros((64, 1024), np.float32)\n"
            "threading.stack_size(128 * 1024)\n"
            "t = threading.Thread(target=matmul.gemm, args=(C, A, B))\n"
            "t.start(); t.join()\n"
            "print(C.min(), C.max())\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.split() == ['700.0', '700.0'], (out.returncode, out.stderr[-2000:])


def test_narrow_models_compile_nothing_of_the_packed_tree():
    # The packed tree costs a cold start about a second: a model without a wide layer must never compile it.
    code = ("import numpy as np, numbanet\n"
            "from numbanet.kernels.cpu import _packed, matmul\n"
            "m = numbanet.Sequential([numbanet.layers.Input((30,)), numbanet.layers.Dense(300, activation='relu'),\n"
            "                         numbanet.layers.Dense(3, activation='softmax')], seed=0)\n"
            "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
            "x = np.random.default_rng(0).random((64, 30), dtype=np.float32)\n"
            "m.fit(x, np.arange(64) % 3, batch_size=32, epochs=1, verbose=0)\n"
            "print(len(_packed.packed_columns.signatures))\n"
            "A, B = np.ones((32, 512), np.float32), np.ones((512, 1024), np.float32)\n"
            "matmul.gemm(np.empty((32, 1024), np.float32), A, B)\n"
            "print(len(_packed.packed_columns.signatures))\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600)
    assert out.stdout.split() == ['0', '1'], out.stdout + out.stderr[-2000:]


def test_gemm_refuses_shapes_that_do_not_chain(rng):
    A, B, _, _ = _operands(rng, 4, 5, 6)
    with pytest.raises(ValueError, match='do not chain'):
        g.gemm(np.empty((4, 7), np.float32), A, B)
    with pytest.raises(ValueError, match='bias'):
        g.gemm(np.empty((4, 6), np.float32), A, B, np.zeros(5, np.float32))


def test_gemm_any_layout_is_correct(rng):
    A, B, bias, _ = _operands(rng, 9, 70, 67)
    C = np.asfortranarray(np.zeros((9, 67), np.float32))
    g.gemm(C, A, np.asfortranarray(B), bias)
    np.testing.assert_allclose(C, A @ B + bias, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('M,N', [(1, 1), (37, 19), (8, 16), (256, 128), (9, 7), (16, 16), (50, 37), (17, 1030),
                                 (1030, 10)])
def test_transpose(rng, M, N):
    x = rng.standard_normal((M, N), dtype=np.float32)
    out = np.empty((N, M), np.float32)
    g.transpose(out, x)
    assert np.array_equal(out, x.T)


def test_gemm_refuses_other_dtypes_before_writing(rng):
    A = rng.standard_normal((5, 7))
    B = rng.standard_normal((7, 9)).astype(np.float32)
    C = np.zeros((5, 9), np.float32)
    with pytest.raises(TypeError, match="float32"):
        g.gemm(C, A, B)
    with pytest.raises(TypeError, match="float32"):
        g.gemm_call(C.astype(np.float64), A.astype(np.float32), B)
    with pytest.raises(TypeError, match="float32"):
        _tiles.body_for(_tiles.gemm_rows, C, A, B, _tiles.NO_BIAS)
    assert not C.any()
