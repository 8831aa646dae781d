"""Dense: out = inp @ weight + bias, with weight stored (in, out) as Keras stores it."""

from numbanet.kernels import shapes
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu.matmul import gemm, gemm_at_call, gemm_call, transpose_call


def dense_forward(out, inp, weight, bias, relu=False):
    # out (B,N) = inp (B,K) @ weight (K,N) + bias (N,); bias is None for use_bias=False; relu: then
    # max(out, 0), fused.
    gemm(out, inp, weight, bias, False, relu)


def dense_forward_call(out, inp, weight, bias, relu=False):
    # (fn, args) with fn(*args) doing dense_forward(out, inp, weight, bias, relu) on these arrays (gemm_call).
    return gemm_call(out, inp, weight, bias, relu)


def dense_backward(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate=True):
    # dweight (K,N) += inp^T @ dout, dbias (N,) += column sums of dout, dinp (B,K) = dout @ weight^T;
    # accumulate False: dweight and dbias are written (=), not added to. dinp is None where the input needs
    # no gradient (a first layer), dweight and dbias are None for a frozen layer; what is None is skipped.
    # weight_t (N,K) is scratch for weight^T, so that product also streams contiguous rows of B.
    for fn, args in dense_backward_calls(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate):
        fn(*args)


def dense_backward_calls(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate=True):
    # [(fn, args), ...] doing dense_backward(...) on these arrays, in order, checked once: a plan binds them when
    # it first trains, which saves the wrappers' Python on every step (about 10 us per layer).
    calls = []
    if dweight is not None:
        calls.append(gemm_at_call(dweight, inp, dout, accumulate))
    if dbias is not None:
        shapes.shaped('dense_backward', 'dbias', dbias, dout.shape[1:])  # bias_backward indexes it unchecked
        calls.append((bias_backward, (dbias, dout, accumulate)))
    if dinp is not None:
        calls += [transpose_call(weight_t, weight), gemm_call(dinp, dout, weight_t)]
    return calls


@njit(cache=True)
def bias_backward(dbias, dout, accumulate):
    # dbias (N,) += sum over rows of dout (B,N) (= when not accumulate); rows outer so the inner loop is
    # contiguous.
    if not accumulate:
        dbias[:] = 0.0
    for b in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dbias[j] += dout[b, j]
