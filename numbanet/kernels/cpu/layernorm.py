"""LayerNormalization over the last axis (Keras): each row of x (R, C) to mean 0 and variance 1 over its C
features, then scaled by gamma and shifted by beta, both (C,).

Row statistics run in float64, two passes (mean, then squared deviations), each a fixed-order sum: blocks
of 8 terms as a balanced tree, the blocks in ascending order (2.3x faster than one running sum, which waits
on every add). The terms are computed from the rows as they are summed, never stored, so no kernel here
creates an array and a training step allocates nothing; dgamma and dbeta sum each channel over the rows in
ascending order in the caller's `work` (4, C).

LLVM keeps a fixed-order sum scalar (vectorizing it would reorder the adds), and converting float32 to
float64 one value at a time took twice as long as the old copy into a float64 row. So 8 rows go at once:
_tile_x, _tile_sq and _tile_g load an 8 x 8 tile as vectors, convert it in one go and build the 8 rows'
trees with two-source shuffles (pairs of two rows, then of four, then all eight): every add is the scalar
path's, in its order, so a row's bits do not depend on which rows share its tile. The statistics of
128 x 256 float32: 26 us one row at a time, 13 us from a stored float64 row, 10 us in tiles.

Above PARALLEL_MIN elements the per-row work splits into bands of rows and the per-channel sums into runs
of channels, so no two threads write one cell and no result depends on the thread count.
"""
import numba
import numpy as np
from llvmlite import ir
from numba import types

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands, run
from numba.core import cgutils
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.extending import intrinsic, overload

CB = 16                    # parallel channel runs of the dgamma, dbeta sums are a multiple of this
PARALLEL_MIN = 1 << 18     # elements; below this a thread pool costs more than it saves (probes.md)
_ZERO8 = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _channels_per_thread(C, threads):
    # One contiguous run of channels per thread, a multiple of CB wide: long row slices stream well.
    blocks = (C + CB - 1) // CB
    return (blocks + threads - 1) // threads * CB


def _threads(size):
    return numba.get_num_threads() if size >= PARALLEL_MIN else 1


def _check_work(work, C):
    # The kernels index work[0:4, 0:C] unchecked: a smaller buffer would be written out of bounds.
    if work.shape != (4, C):
        raise ValueError(f"work must be a float64 array of shape (4, {C}), got shape {work.shape}")


# ---- one row: blocks of 8 as a balanced tree, the blocks in ascending order, the last C % 8 terms one by one ---
@njit(cache=True)
def _tree(v0, v1, v2, v3, v4, v5, v6, v7):
    return ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))


@njit(cache=True)
def _sq(v, m):
    d = v - m
    return d * d


@njit(cache=True)
def _g(dr, gamma, c):
    return np.float64(dr[c]) * gamma[c]


@njit(cache=True)
def _gx(dr, gamma, xr, m, inv, c):
    return np.float64(dr[c]) * gamma[c] * ((xr[c] - m) * inv)


@njit(cache=True)
def _block_x(xr, c):
    return _tree(np.float64(xr[c]), np.float64(xr[c + 1]), np.float64(xr[c + 2]), np.float64(xr[c + 3]),
                 np.float64(xr[c + 4]), np.float64(xr[c + 5]), np.float64(xr[c + 6]), np.float64(xr[c + 7]))


@njit(cache=True)
def _block_sq(xr, c, m):
    return _tree(_sq(xr[c], m), _sq(xr[c + 1], m), _sq(xr[c + 2], m), _sq(xr[c + 3], m),
                 _sq(xr[c + 4], m), _sq(xr[c + 5], m), _sq(xr[c + 6], m), _sq(xr[c + 7], m))


@njit(cache=True)
def _block_g(dr, gamma, xr, m, inv, c):
    g = _tree(_g(dr, gamma, c), _g(dr, gamma, c + 1), _g(dr, gamma, c + 2), _g(dr, gamma, c + 3),
              _g(dr, gamma, c + 4), _g(dr, gamma, c + 5), _g(dr, gamma, c + 6), _g(dr, gamma, c + 7))
    gx = _tree(_gx(dr, gamma, xr, m, inv, c), _gx(dr, gamma, xr, m, inv, c + 1),
               _gx(dr, gamma, xr, m, inv, c + 2), _gx(dr, gamma, xr, m, inv, c + 3),
               _gx(dr, gamma, xr, m, inv, c + 4), _gx(dr, gamma, xr, m, inv, c + 5),
               _gx(dr, gamma, xr, m, inv, c + 6), _gx(dr, gamma, xr, m, inv, c + 7))
    return g, gx


@njit(cache=True)
def _sum_x(xr):
    # The sum of the row xr, in float64.
    C = xr.shape[0]
    full = C - C % 8
    s = 0.0
    for c in range(0, full, 8):
        s += _block_x(xr, c)
    for c in range(full, C):
        s += np.float64(xr[c])
    return s


@njit(cache=True)
def _sum_sq(xr, m):
    # The sum of (xr - m)^2 over the row, m a float64.
    C = xr.shape[0]
    full = C - C % 8
    s = 0.0
    for c in range(0, full, 8):
        s += _block_sq(xr, c, m)
    for c in range(full, C):
        s += _sq(xr[c], m)
    return s


@njit(cache=True)
def _sum_g(dr, gamma, xr, m, inv):
    # With g = dout * gamma and xhat = (x - m) * inv: (sum of g, sum of g * xhat) over the row.
    C = xr.shape[0]
    full = C - C % 8
    s1 = 0.0
    s2 = 0.0
    for c in range(0, full, 8):
        g, gx = _block_g(dr, gamma, xr, m, inv, c)
        s1 += g
        s2 += gx
    for c in range(full, C):
        s1 += _g(dr, gamma, c)
        s2 += _gx(dr, gamma, xr, m, inv, c)
    return s1, s2


# ---- 8 rows at once: s (8 float64, one a row) plus the block trees of the 8 x 8 tile at (r, c) -----------------
# The plain-Python versions define them (and run under NUMBA_DISABLE_JIT); jitted code gets the vector ones.
def _tile_x(x, r, c, s):
    return tuple(s[i] + _block_x(x[r + i], c) for i in range(8))


def _tile_sq(x, r, c, m, s):
    # m: the 8 rows' means (float64)
    return tuple(s[i] + _block_sq(x[r + i], c, m[i]) for i in range(8))


def _tile_g(dout, gamma, x, mean, invstd, r, c, s1, s2):
    # Both sums of _sum_g; each row's mean and invstd are read from mean[r + i], invstd[r + i].
    blocks = [_block_g(dout[r + i], gamma, x[r + i], np.float64(mean[r + i]), np.float64(invstd[r + i]), c)
              for i in range(8)]
    return tuple(s1[i] + blocks[i][0] for i in range(8)), tuple(s2[i] + blocks[i][1] for i in range(8))


_D8 = ir.VectorType(ir.DoubleType(), 8)
_EVEN = ir.Constant(ir.VectorType(ir.IntType(32), 8), list(range(0, 16, 2)))
_ODD = ir.Constant(ir.VectorType(ir.IntType(32), 8), list(range(1, 16, 2)))
_LANE0 = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)


def _load8(context, builder, aryty, ary, index):
    # ary[index] and the 7 values after it along the last axis, as float64: one load if the array is
    # C-contiguous, else 8.
    arr = context.make_array(aryty)(context, builder, ary)
    shape = cgutils.unpack_tuple(builder, arr.shape, aryty.ndim)
    strides = cgutils.unpack_tuple(builder, arr.strides, aryty.ndim)
    index = [context.cast(builder, i, ty, types.intp) for i, ty in index]
    elt = context.get_value_type(aryty.dtype)
    width = aryty.dtype.bitwidth // 8
    if aryty.layout == 'C':
        ptr = cgutils.get_item_pointer2(context, builder, arr.data, shape, strides, aryty.layout, index)
        v = builder.load(builder.bitcast(ptr, ir.VectorType(elt, 8).as_pointer()), align=width)
    else:
        v = ir.Constant(ir.VectorType(elt, 8), ir.Undefined)
        for j in range(8):
            at = index[:-1] + [builder.add(index[-1], context.get_constant(types.intp, j))]
            ptr = cgutils.get_item_pointer2(context, builder, arr.data, shape, strides, aryty.layout, at)
            v = builder.insert_element(v, builder.load(ptr, align=width), ir.Constant(ir.IntType(32), j))
    return v if aryty.dtype == types.float64 else builder.fpext(v, _D8)


def _load1(context, builder, aryty, ary, i, ity):
    # ary[i] (1-D, i of type ity) as a float64 scalar.
    arr = context.make_array(aryty)(context, builder, ary)
    ptr = cgutils.get_item_pointer(context, builder, aryty, arr, [context.cast(builder, i, ity, types.intp)])
    return context.cast(builder, builder.load(ptr), aryty.dtype, types.float64)


def _splat(builder, value):
    # A float64 in all 8 lanes.
    undef = ir.Constant(_D8, ir.Undefined)
    return builder.shuffle_vector(builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0)), undef, _LANE0)


def _trees(builder, rows):
    # 8 vectors of 8 terms (one a row) -> one vector of the 8 rows' trees. Each round adds the even lanes of
    # two vectors to their odd lanes: (v0+v1, v2+v3, v4+v5, v6+v7) of two rows, then (p0+p1, p2+p3) of four,
    # then q0+q1 of all eight: _tree's adds in _tree's order, and the rows end in lane order.
    while len(rows) > 1:
        rows = [builder.fadd(builder.shuffle_vector(a, b, _EVEN), builder.shuffle_vector(a, b, _ODD))
                for a, b in zip(rows[::2], rows[1::2])]
    return rows[0]


def _plus(builder, s, t):
    # The tuple s with t's lanes added, s first (as `s += tree` adds).
    out = s
    for i in range(8):
        lane = builder.extract_element(t, ir.Constant(ir.IntType(32), i))
        out = builder.insert_value(out, builder.fadd(builder.extract_value(s, i), lane), i)
    return out


def _row(builder, r, i):
    return builder.add(r, ir.Constant(r.type, i))


@intrinsic
def _ir_tile_x(typingctx, x, r, c, s):
    def codegen(context, builder, sig, args):
        x_, r_, c_, s_ = args
        rows = [_load8(context, builder, x, x_, [(_row(builder, r_, i), r), (c_, c)]) for i in range(8)]
        return _plus(builder, s_, _trees(builder, rows))
    return s(x, r, c, s), codegen


@intrinsic
def _ir_tile_sq(typingctx, x, r, c, m, s):
    def codegen(context, builder, sig, args):
        x_, r_, c_, m_, s_ = args
        rows = []
        for i in range(8):
            d = builder.fsub(_load8(context, builder, x, x_, [(_row(builder, r_, i), r), (c_, c)]),
                             _splat(builder, builder.extract_value(m_, i)))
            rows.append(builder.fmul(d, d))
        return _plus(builder, s_, _trees(builder, rows))
    return s(x, r, c, m, s), codegen


@intrinsic
def _ir_tile_g(typingctx, dout, gamma, x, mean, invstd, r, c, s1, s2):
    def codegen(context, builder, sig, args):
        d_, gamma_, x_, mean_, invstd_, r_, c_, s1_, s2_ = args
        gam = _load8(context, builder, gamma, gamma_, [(c_, c)])
        g_rows, gx_rows = [], []
        for i in range(8):
            ri = _row(builder, r_, i)
            g = builder.fmul(_load8(context, builder, dout, d_, [(ri, r), (c_, c)]), gam)
            m = _splat(builder, _load1(context, builder, mean, mean_, ri, r))
            inv = _splat(builder, _load1(context, builder, invstd, invstd_, ri, r))
            xhat = builder.fmul(builder.fsub(_load8(context, builder, x, x_, [(ri, r), (c_, c)]), m), inv)
            g_rows.append(g)
            gx_rows.append(builder.fmul(g, xhat))
        sums = [_plus(builder, s1_, _trees(builder, g_rows)), _plus(builder, s2_, _trees(builder, gx_rows))]
        return context.make_tuple(builder, sig.return_type, sums)
    return types.Tuple((s1, s2))(dout, gamma, x, mean, invstd, r, c, s1, s2), codegen


def _set(s, i, v):
    # s with s[i] replaced by v: the tiles' sums take a row's last C % 8 terms one row at a time.
    return s[:i] + (v,) + s[i + 1:]


@overload(_set)
def _set_jit(s, i, v):
    return lambda s, i, v: tuple_setitem(s, i, v)


@overload(_tile_x)
def _tile_x_jit(x, r, c, s):
    return lambda x, r, c, s: _ir_tile_x(x, r, c, s)


@overload(_tile_sq)
def _tile_sq_jit(x, r, c, m, s):
    return lambda x, r, c, m, s: _ir_tile_sq(x, r, c, m, s)


@overload(_tile_g)
def _tile_g_jit(dout, gamma, x, mean, invstd, r, c, s1, s2):
    return lambda dout, gamma, x, mean, invstd, r, c, s1, s2: _ir_tile_g(dout, gamma, x, mean, invstd, r, c, s1, s2)


@njit(cache=True)
def _sums8_x(x, r):
    # _sum_x of the rows x[r:r + 8].
    C = x.shape[1]
    full = C - C % 8
    s = _ZERO8
    for c in range(0, full, 8):
        s = _tile_x(x, r, c, s)
    for i in range(8):
        t = s[i]
        for c in range(full, C):
            t += np.float64(x[r + i, c])
        s = _set(s, i, t)
    return s


@njit(cache=True)
def _sums8_sq(x, r, m):
    # _sum_sq of the rows x[r:r + 8], m their 8 means.
    C = x.shape[1]
    full = C - C % 8
    s = _ZERO8
    for c in range(0, full, 8):
        s = _tile_sq(x, r, c, m, s)
    for i in range(8):
        t = s[i]
        for c in range(full, C):
            t += _sq(x[r + i, c], m[i])
        s = _set(s, i, t)
    return s


@njit(cache=True)
def _sums8_g(dout, gamma, x, mean, invstd, r):
    # _sum_g of the rows r to r + 7, with their mean and invstd.
    C = x.shape[1]
    full = C - C % 8
    s1 = s2 = _ZERO8
    for c in range(0, full, 8):
        s1, s2 = _tile_g(dout, gamma, x, mean, invstd, r, c, s1, s2)
    for i in range(8):
        m, inv = np.float64(mean[r + i]), np.float64(invstd[r + i])
        t1, t2 = s1[i], s2[i]
        for c in range(full, C):
            t1 += _g(dout[r + i], gamma, c)
            t2 += _gx(dout[r + i], gamma, x[r + i], m, inv, c)
        s1 = _set(s1, i, t1)
        s2 = _set(s2, i, t2)
    return s1, s2


# ---- the pieces: per-row work over rows [r0, r1), 8 at a time, and per-channel sums over channels [c0, c1) ---
@njit(cache=True, error_model='numpy')
def _normalize_row(out, mean, invstd, x, gamma, beta, epsilon, r, m, ssq):
    # m: the row's mean, ssq: its sum of squared deviations, both float64.
    C = x.shape[1]
    xr, orow = x[r], out[r]
    inv = 1.0 / np.sqrt(ssq / C + epsilon)
    mean[r] = m
    invstd[r] = inv
    for c in range(C):
        orow[c] = (xr[c] - m) * inv * gamma[c] + beta[c]


@njit(cache=True, error_model='numpy')
def _forward_rows(out, mean, invstd, x, gamma, beta, epsilon, r0, r1):
    C = x.shape[1]
    r8 = r1 - (r1 - r0) % 8
    for r in range(r0, r8, 8):
        s = _sums8_x(x, r)
        m = (s[0] / C, s[1] / C, s[2] / C, s[3] / C, s[4] / C, s[5] / C, s[6] / C, s[7] / C)
        ssq = _sums8_sq(x, r, m)
        for i in range(8):
            _normalize_row(out, mean, invstd, x, gamma, beta, epsilon, r + i, m[i], ssq[i])
    for r in range(r8, r1):
        m = _sum_x(x[r]) / C
        _normalize_row(out, mean, invstd, x, gamma, beta, epsilon, r, m, _sum_sq(x[r], m))


@njit(cache=True)
def _dx_row(dx, dout, x, mean, invstd, gamma, r, s1, s2):
    # With g = dout * gamma and xhat = (x - mean) * invstd: dx = invstd * (g - mean(g) - xhat * mean(g * xhat)),
    # s1, s2 the row's sums of g and g * xhat.
    C = x.shape[1]
    xr, dr, dxr = x[r], dout[r], dx[r]
    m = np.float64(mean[r])
    inv = np.float64(invstd[r])
    s1 /= C
    s2 /= C
    for c in range(C):
        dxr[c] = inv * (np.float64(dr[c]) * gamma[c] - s1 - (xr[c] - m) * inv * s2)


@njit(cache=True)
def _backward_rows(dx, dout, x, mean, invstd, gamma, r0, r1):
    r8 = r1 - (r1 - r0) % 8
    for r in range(r0, r8, 8):
        s1, s2 = _sums8_g(dout, gamma, x, mean, invstd, r)
        for i in range(8):
            _dx_row(dx, dout, x, mean, invstd, gamma, r + i, s1[i], s2[i])
    for r in range(r8, r1):
        s1, s2 = _sum_g(dout[r], gamma, x[r], np.float64(mean[r]), np.float64(invstd[r]))
        _dx_row(dx, dout, x, mean, invstd, gamma, r, s1, s2)


@njit(cache=True)
def _param_sums(dgamma, dbeta, work, dout, x, mean, invstd, c0, c1):
    # work[0], work[1]: each channel's sum over rows, in order, of dout * xhat and of dout.
    a, b = work[0, c0:c1], work[1, c0:c1]
    a[:] = 0.0
    b[:] = 0.0
    for r in range(x.shape[0]):
        xr, dr = x[r, c0:c1], dout[r, c0:c1]
        m = np.float64(mean[r])
        inv = np.float64(invstd[r])
        for c in range(xr.shape[0]):
            g = np.float64(dr[c])
            a[c] += g * ((xr[c] - m) * inv)
            b[c] += g
    for c in range(a.shape[0]):
        dgamma[c0 + c] += a[c]
        dbeta[c0 + c] += b[c]


def _forward_parallel(out, mean, invstd, x, gamma, beta, epsilon, threads):
    R = x.shape[0]
    bands(_forward_rows, R, threads, out, mean, invstd, x, gamma, beta, epsilon)


def _backward_parallel(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work, threads):
    R, C = x.shape
    bands(_backward_rows, R, threads, dx, dout, x, mean, invstd, gamma)
    run(_param_sums, C, _channels_per_thread(C, threads), dgamma, dbeta, work, dout, x, mean, invstd)


def layernorm_forward(out, mean, invstd, x, gamma, beta, epsilon):
    # out, x: (R, C); mean, invstd (R,) are written (invstd = 1 / sqrt(var + epsilon)); gamma, beta: (C,).
    threads = _threads(x.size)
    if threads > 1:
        _forward_parallel(out, mean, invstd, x, gamma, beta, epsilon, threads)
    else:
        _forward_rows(out, mean, invstd, x, gamma, beta, epsilon, 0, x.shape[0])


def layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work):
    # dx, dout, x: (R, C); mean, invstd: (R,); dgamma, dbeta, gamma: (C,); work (4, C) float64, C-contiguous:
    # the caller's scratch, contents undefined. dgamma += sum dout * xhat and dbeta += sum dout (over rows);
    # dx is overwritten.
    _check_work(work, x.shape[1])
    threads = _threads(x.size)
    if threads > 1:
        _backward_parallel(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work, threads)
    else:
        _backward_rows(dx, dout, x, mean, invstd, gamma, 0, x.shape[0])
        _param_sums(dgamma, dbeta, work, dout, x, mean, invstd, 0, x.shape[1])
