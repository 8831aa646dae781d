"""Dense: out = inp @ weight + bias, with weight stored (in, out) as Keras stores it."""
from numba import njit

from numbanet.kernels.cpu.matmul import gemm, gemm_at, gemm_call, transpose


def dense_forward(out, inp, weight, bias, relu=False):
    # out (B,N) = inp (B,K) @ weight (K,N) + bias (N,); bias is None for use_bias=False; relu: then
    # max(out, 0), fused.
    gemm(out, inp, weight, bias, False, relu)


def dense_forward_call(out, inp, weight, bias, relu=False):
    # (fn, args) with fn(*args) doing dense_forward(out, inp, weight, bias, relu) on these arrays (gemm_call).
    return gemm_call(out, inp, weight, bias, relu)


def dense_backward(dinp, dweight, dbias, weight_t, dout, inp, weight):
    # dweight (K,N) += inp^T @ dout, dbias (N,) += column sums of dout, dinp (B,K) = dout @ weight^T.
    # dinp is None where the input needs no gradient (a first layer), dweight and dbias are None for a
    # frozen layer; what is None is skipped. weight_t (N,K) is scratch for weight^T, so that product
    # also streams contiguous rows of B.
    if dweight is not None:
        gemm_at(dweight, inp, dout, True)
    if dbias is not None:
        bias_backward(dbias, dout)
    if dinp is not None:
        transpose(weight_t, weight)
        gemm(dinp, dout, weight_t, None, False)


@njit(cache=True)
def bias_backward(dbias, dout):
    # dbias (N,) += sum over rows of dout (B,N); rows outer so the inner loop is contiguous.
    for b in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dbias[j] += dout[b, j]
