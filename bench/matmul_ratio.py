"""The hand-written matmul against numpy's BLAS at the reference MLP's shapes (batch 128): forward
X @ W, weight gradient X^T @ dY, input gradient dY @ W^T, at the same thread count for both; prints each
ratio and their geometric mean.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/matmul_ratio.py [--threads 1 2]

Each library is timed in a process of its own, alternating, best of all runs: after a call OpenBLAS's
idle threads spin for about 0.1 s, and numba's threads would have to fight them for the two cores.

A result is flagged, with a note under the table, when it is not to be quoted: the best rates of a
library's runs (processes) differ by more than SPREAD, a run's median call takes more than JITTER times
its best, or a ratio falls outside PLAUSIBLE (two tuned GEMMs on the same cores). A busy machine or
misbehaving BLAS threads (a ratio of 86x was once printed without a word) show up in these. The exit
status is 1 when anything is flagged.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

SPREAD = 1.25  # best rate of one run over another's, per library and shape
JITTER = 1.5  # a run's median call over its best call
PLAUSIBLE = (1 / 3, 3)  # numbanet's rate over numpy's

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
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out.append({'gflops': 2 * M * N * K / 1e9 / min(times), 'jitter': statistics.median(times) / min(times)})
    return out


def flags(runs_ours, runs_theirs):
    """What makes one shape's ratio unfit to quote; runs_*: one {'gflops', 'jitter'} per run (process)."""
    out = []
    for library, runs in (('numbanet', runs_ours), ('numpy', runs_theirs)):
        rates = [r['gflops'] for r in runs]
        if max(rates) > SPREAD * min(rates):
            out.append(f"{library}'s runs differ {max(rates) / min(rates):.2f}x")
        jitter = max(r['jitter'] for r in runs)
        if jitter > JITTER:
            out.append(f"{library}'s median call {jitter:.1f}x its best")
    ratio = max(r['gflops'] for r in runs_ours) / max(r['gflops'] for r in runs_theirs)
    if not PLAUSIBLE[0] <= ratio <= PLAUSIBLE[1]:
        out.append(f"ratio {ratio:.2f} outside {PLAUSIBLE[0]:.2f}-{PLAUSIBLE[1]:.0f}")
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
    flagged = 0
    for threads in args.threads:
        # numpy's BLAS reads its thread count once, at import.
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        runs = {'numbanet': [], 'numpy': []}  # per library: one list of per-shape results per run
        for _ in range(args.runs):
            for library in runs:
                out = subprocess.run([sys.executable, __file__, '--child', library, str(threads), '--repeats',
                                      str(args.repeats)], env=env, capture_output=True, text=True, check=True)
                runs[library].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"\n{threads} thread(s)                numbanet GFLOP/s   numpy GFLOP/s   ratio")
        logs, notes = [], []
        for i, (name, *_) in enumerate(SHAPES):
            ours, theirs = ([run[i] for run in runs[library]] for library in ('numbanet', 'numpy'))
            best_ours, best_theirs = max(r['gflops'] for r in ours), max(r['gflops'] for r in theirs)
            logs.append(math.log(best_ours / best_theirs))
            why = flags(ours, theirs)
            if why:
                notes.append(f"  [{len(notes) + 1}] {' '.join(name.split())}: {'; '.join(why)}")
            mark = f"  [{len(notes)}] unreliable" if why else ''
            print(f"{name:<32} {best_ours:>10.1f} {best_theirs:>15.1f} {best_ours / best_theirs:>8.2f}{mark}")
        mark = '  unreliable: see the notes' if notes else ''
        print(f"{'geometric mean ratio':<32} {'':>10} {'':>15} {math.exp(sum(logs) / len(logs)):>8.2f}{mark}")
        for note in notes:
            print(note)
        flagged += len(notes)
    if flagged:
        print(f"\n{flagged} result(s) flagged: the machine was busy or a library's threads misbehaved; rerun "
              f"(more --runs, an idle machine) before quoting them.")
        sys.exit(1)


if __name__ == '__main__':
    main()
