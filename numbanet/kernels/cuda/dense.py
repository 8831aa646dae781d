"""Dense on the GPU: out = inp @ weight + bias, weight stored (in, out). Twin of kernels/cpu/dense.py."""
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda.matmul import gemm, gemm_at, gemm_call, transpose


def dense_forward(out, inp, weight, bias, relu=False):
    # out (B,N) = inp (B,K) @ weight (K,N) + bias (N,); bias is None for use_bias=False; relu: then
    # max(out, 0), fused.
    gemm(out, inp, weight, bias, False, relu)


def dense_forward_call(out, inp, weight, bias, relu=False):
    # (fn, args) with fn(*args) doing dense_forward(out, inp, weight, bias, relu) on these arrays (gemm_call).
    return gemm_call(out, inp, weight, bias, relu)


def dense_backward(dinp, dweight, dbias, weight_t, dout, inp, weight):
    # dweight (K,N) += inp^T @ dout, dbias (N,) += column sums of dout, dinp (B,K) = dout @ weight^T.
    # What is None is skipped, as on the CPU. weight_t (N,K) is scratch for weight^T.
    if dweight is not None:
        gemm_at(dweight, inp, dout, True)
    if dbias is not None:
        bias_backward(dbias, dout)
    if dinp is not None:
        transpose(weight_t, weight)
        gemm(dinp, dout, weight_t)


@cuda.jit
def _bias_backward(dbias, dout):
    # One thread per column, rows in order: deterministic, no atomics.
    j = cuda.grid(1)
    if j < dout.shape[1]:
        s = dbias[j]
        for b in range(dout.shape[0]):
            s += dout[b, j]
        dbias[j] = s


def bias_backward(dbias, dout):
    _bias_backward[blocks(dout.shape[1]), THREADS](dbias, dout)
