"""The hand-written matmul against numpy's BLAS at the reference MLP's shapes (batch 128): forward
X @ W, weight gradient X^T @ dY, input gradient dY @ W^T, at the same thread count for both; prints each
ratio and their geometric mean.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/matmul_ratio.py [--threads 1 2]

Each library is timed in a process of its own, alternating, best of all runs: after a call OpenBLAS's
idle threads spin for about 0.1 s, and numba's threads would have to fight them for the two cores.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

SHAPES = [  # (name, M, K, N, A is a transposed view)
    ('X @ W      128x784 @ 784x256', 128, 784, 256, False),
    ('X @ W      128x256 @ 256x128', 128, 256, 128, False),
    ('X @ W      128x128 @ 128x64', 128, 128, 64, False),
    ('X^T @ dY   784x128 @ 128x256', 784, 128, 256, True),
    ('X^T @ dY   256x128 @ 128x128', 256, 128, 128, True),
    ('X^T @ dY   128x128 @ 128x64', 128, 128, 64, True),
    ('dY @ W^T   128x128 @ 128x256', 128, 128, 256, False),
    ('dY @ W^T   128x64 @ 64x128', 128, 64, 128, False),
]


def measure(library, threads, repeats):
    import numpy as np
    rng = np.random.default_rng(0)
    if library == 'numbanet':
        import numbanet
        from numbanet.kernels import cpu as k
        numbanet.set_num_threads(threads)
    out = []
    for name, M, K, N, transposed in SHAPES:
        A = rng.standard_normal((K, M) if transposed else (M, K), dtype=np.float32)
        A = A.T if transposed else A
        B = rng.standard_normal((K, N), dtype=np.float32)
        C = np.empty((M, N), np.float32)
        fn = (lambda: k.gemm(C, A, B)) if library == 'numbanet' else (lambda: np.matmul(A, B, out=C))
        fn()
        best = 1e9
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out.append(2 * M * N * K / 1e9 / best)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--repeats', type=int, default=200)
    p.add_argument('--runs', type=int, default=2, help='processes per library (alternating)')
    p.add_argument('--child', nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.repeats)))
        return
    for threads in args.threads:
        # numpy's BLAS reads its thread count once, at import.
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        best = {'numbanet': [0.0] * len(SHAPES), 'numpy': [0.0] * len(SHAPES)}
        for _ in range(args.runs):
            for library in best:
                out = subprocess.run([sys.executable, __file__, '--child', library, str(threads), '--repeats',
                                      str(args.repeats)], env=env, capture_output=True, text=True, check=True)
                rates = json.loads(out.stdout.strip().splitlines()[-1])
                best[library] = [max(a, b) for a, b in zip(best[library], rates)]
        print(f"\n{threads} thread(s)                numbanet GFLOP/s   numpy GFLOP/s   ratio")
        logs = []
        for (name, *_), ours, theirs in zip(SHAPES, best['numbanet'], best['numpy']):
            logs.append(math.log(ours / theirs))
            print(f"{name:<32} {ours:>10.1f} {theirs:>15.1f} {ours / theirs:>8.2f}")
        print(f"{'geometric mean ratio':<32} {'':>10} {'':>15} {math.exp(sum(logs) / len(logs)):>8.2f}")


if __name__ == '__main__':
    main()
