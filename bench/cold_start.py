"""The first run on a fresh machine: numbanet's README command from an empty numba cache against JAX's first
epoch (compile included), each in its own interpreter, interleaved.

    python bench/cold_start.py [--rounds 3] [--threads 2] [--jax-python PY]

numbanet: `python examples/mnist.py --epochs 1 --limit 5000` with a fresh NUMBA_CACHE_DIR (cold), then the
same command again on the cache it filled (warm); the wall time of the whole process, data loading and
warm-up included. JAX: a fresh interpreter imports jax, reads full MNIST (60,000 images) from a file written
beforehand, and trains the same MLP (bench/workloads.py) for one epoch, jit compilation of the full and the
last partial batch included; the wall time of the whole process. Issue #18's target: numbanet cold at most
1.5x JAX's first epoch, and at most 10 s on an idle machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
import workloads  # noqa: E402

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = [os.path.join(ROOT, 'examples', 'mnist.py'), '--epochs', '1', '--limit', '5000', '--json']


def jax_first_epoch(args):
    """(the JAX child) import, load, one epoch: everything a first run pays."""
    peers.limit_cpus(args.threads)
    with np.load(args.data) as f:
        x, y = f['x'], f['y']
    fw = workloads.JaxMLP()
    fw.prepare(x, y)
    fw.epoch()
    print(json.dumps({'framework': 'jax', 'version': fw.version(), 'modules': peers.loaded_frameworks()}))


def timed_process(argv, env=None):
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('mode', nargs='?', default='compare', choices=['compare', 'jax', 'data'])
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=None, help='threads for both (default: cores)')
    p.add_argument('--jax-python', default=None, help='an interpreter with jax (default: this one, if it has it)')
    p.add_argument('--data', help='(jax, data) the MNIST file')
    args = p.parse_args(argv)
    args.threads = args.threads or os.cpu_count()
    if args.mode == 'jax':
        return jax_first_epoch(args)
    if args.mode == 'data':
        x, y, _, _, source = workloads.mnist_or_synthetic()
        np.savez(args.data, x=x, y=y)
        print(json.dumps({'framework': 'numbanet', 'source': source, 'modules': peers.loaded_frameworks()}))
        return None
    jax_python = peers.python_with('jax', args.jax_python)
    threads = {'NUMBA_NUM_THREADS': str(args.threads)}
    times = {'numbanet cold': [], 'numbanet warm': [], 'jax first epoch': []}
    with tempfile.TemporaryDirectory(prefix='numbanet-cold-') as tmp:
        data = os.path.join(tmp, 'mnist.npz')
        made = peers.run_child(sys.executable, [HERE, 'data', '--data', data], 'numbanet')
        for r in range(args.rounds):
            cache = os.path.join(tmp, f'cache{r}')
            cold, out = timed_process([sys.executable, *EXAMPLE], dict(threads, NUMBA_CACHE_DIR=cache))
            times['numbanet cold'].append(cold)
            times['numbanet warm'].append(timed_process([sys.executable, *EXAMPLE],
                                                        dict(threads, NUMBA_CACHE_DIR=cache))[0])
            if jax_python:
                start = time.perf_counter()
                peers.run_child(jax_python, [HERE, 'jax', '--data', data, '--threads', str(args.threads)], 'jax')
                times['jax first epoch'].append(time.perf_counter() - start)
    print(f"First run, {args.threads} threads, {args.rounds} interleaved rounds ({made['source']} for JAX); "
          f"numbanet: {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in EXAMPLE)}")
    for name, ts in times.items():
        if ts:
            s = peers.spread(ts)
            print(f"{name:<16} {s['median']:6.2f} s  ({s['min']:.2f}-{s['max']:.2f})")
    if times['jax first epoch']:
        ratio = peers.per_round_ratios(times['numbanet cold'], times['jax first epoch'])
        print(f"numbanet cold / jax first epoch: {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    else:
        print("jax: no interpreter here has it (see --jax-python): skipped")
    return times


if __name__ == '__main__':
    main()
