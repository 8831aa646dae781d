"""Dense on the GPU: out = inp @ weight + bias, weight stored (in, out). Twin of kernels/cpu/dense.py."""
from numba import cuda, float32

from numbanet.kernels import shapes
from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda.matmul import gemm, gemm_at_call, gemm_call, transpose_call


def dense_forward(out, inp, weight, bias, relu=False):
    # out (B,N) = inp (B,K) @ weight (K,N) + bias (N,); bias is None for use_bias=False; relu: then
    # max(out, 0), fused.
    gemm(out, inp, weight, bias, False, relu)


def dense_forward_call(out, inp, weight, bias, relu=False):
    # (fn, args) with fn(*args) doing dense_forward(out, inp, weight, bias, relu) on these arrays (gemm_call).
    return gemm_call(out, inp, weight, bias, relu)


def dense_backward(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate=True):
    # dweight (K,N) += inp^T @ dout, dbias (N,) += column sums of dout, dinp (B,K) = dout @ weight^T;
    # accumulate False: dweight and dbias are written. What is None is skipped, as on the CPU. weight_t (N,K)
    # is scratch for weight^T.
    for fn, args in dense_backward_calls(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate):
        fn(*args)


def dense_backward_calls(dinp, dweight, dbias, weight_t, dout, inp, weight, accumulate=True):
    # [(fn, args), ...] doing dense_backward(...) on these arrays, in order, as on the CPU.
    calls = []
    if dweight is not None:
        calls.append(gemm_at_call(dweight, inp, dout, accumulate))
    if dbias is not None:
        shapes.shaped('dense_backward', 'dbias', dbias, dout.shape[1:])
        calls.append((bias_backward, (dbias, dout, accumulate)))
    if dinp is not None:
        calls += [transpose_call(weight_t, weight), gemm_call(dinp, dout, weight_t)]
    return calls


@cuda.jit
def _bias_backward(dbias, dout, accumulate):
    # One thread per column, rows in order: deterministic, no atomics.
    j = cuda.grid(1)
    if j < dout.shape[1]:
        s = dbias[j] if accumulate else float32(0.0)
        for b in range(dout.shape[0]):
            s += dout[b, j]
        dbias[j] = s


def bias_backward(dbias, dout, accumulate):
    _bias_backward[blocks(dout.shape[1]), THREADS](dbias, dout, accumulate)
