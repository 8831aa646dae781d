"""numbanet against numpy, PyTorch and JAX on the reference MLP, each framework in its own interpreter.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py [--rounds 3] [--limit N] [--threads 2]
        [--only numpy,pytorch,jax] [--torch-python PY] [--jax-python PY] [--contend 1] [--json]

MLP 784-256-128-64-10 (bench/workloads.py), Adam 1e-3, batch 128. The data (MNIST where numbanet's venv has
it, else synthetic) is loaded once, by a child in numbanet's interpreter, and handed to every framework in
one file, with the same initial weights. Each round starts one fresh process per framework, in turn
(interleaved); a process trains one warm-up epoch (compilation, allocator pools) and times the next. Per
framework the table gives the median and range over rounds of s/epoch and samples/s, and the ratios against
numbanet and PyTorch taken round by round (median of the per-round ratios, and their range). A process
imports only its own framework; a timing from one that imported another is refused (bench/peers.py), and
this parent process imports none.

--threads goes to numbanet and PyTorch through their own settings, to numpy through OPENBLAS_NUM_THREADS,
and to JAX, which has no setting, by running its process on that many cores. --contend N also times each
framework, right after its idle run in the same round, with N busy-looping processes running, and reports
its slowdown under that load (per-round ratio).
"""
import argparse
import json
import os
import platform
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
import workloads  # noqa: E402

HERE = os.path.abspath(__file__)


# ---- the children ----------------------------------------------------------------------------------------
def write_data(args):
    """(numbanet's interpreter) the arrays every framework trains on, and the weights all start from."""
    x, y, _, _, source = workloads.mnist_or_synthetic(args.limit)
    weights = workloads.initial_weights(0)
    np.savez(args.out, x=x, y=y, source=source, **{f'w{i}': w for i, w in enumerate(weights)})
    print(json.dumps({'framework': 'numbanet', 'samples': len(x), 'source': source,
                      'modules': peers.loaded_frameworks()}))


def worker(args):
    if args.framework == 'jax':
        peers.limit_cpus(args.threads)
    with np.load(args.data) as f:
        x, y = f['x'], f['y']
        weights = [f[f'w{i}'] for i in range(2 * (len(workloads.SIZES) - 1))]
    cls, _ = workloads.FRAMEWORKS[args.framework]
    fw = cls(threads=args.threads, weights=weights)
    fw.prepare(x, y)
    fw.epoch()  # warm-up: compilation, caches, allocator pools
    seconds = workloads.timed(fw.epoch)
    print(json.dumps({'framework': args.framework, 'seconds': seconds, 'samples': len(x),
                      'version': fw.version(), 'python': sys.executable, 'modules': peers.loaded_frameworks()}))


# ---- the parent ------------------------------------------------------------------------------------------
def interpreters(args):
    """framework -> interpreter, numbanet first (always: it is what the ratios are taken against)."""
    wanted = set(args.only.split(',')) if args.only else set(workloads.FRAMEWORKS)
    asked = {'pytorch': args.torch_python, 'jax': args.jax_python}
    out = {'numbanet': sys.executable}
    for name, (_, module) in workloads.FRAMEWORKS.items():
        if name == 'numbanet' or name not in wanted:
            continue
        python = peers.python_with(module, asked.get(name))
        if python:
            out[name] = python
        else:
            print(f"{name}: no interpreter here has {module} (see --torch-python, --jax-python): skipped")
    return out


def timings(pythons, data, args):
    """framework -> list of child reports, one per round; with --contend also framework + ' loaded'."""
    def child(name, python, load=0):
        env = {'OPENBLAS_NUM_THREADS': str(args.threads)} if name == 'numpy' else None
        argv = [HERE, 'worker', '--framework', name, '--data', data, '--threads', str(args.threads)]
        with peers.busy(load):
            return peers.run_child(python, argv, name, env=env)
    runs = {}
    for name, python in pythons.items():
        runs[name] = lambda name=name, python=python: child(name, python)
        if args.contend:
            runs[f'{name} loaded'] = lambda name=name, python=python: child(name, python, args.contend)
    return peers.interleaved(runs, args.rounds)


def summarise(results, names):
    """Per framework: spreads of s/epoch and samples/s, and per-round ratios against numbanet and PyTorch."""
    seconds = {name: [r['seconds'] for r in results[name]] for name in names}
    out = {}
    for name in names:
        s = seconds[name]
        out[name] = {'seconds_per_epoch': peers.spread(s),
                     'samples_per_second': peers.spread([results[name][0]['samples'] / t for t in s]),
                     'time_vs_numbanet': peers.per_round_ratios(s, seconds['numbanet']),
                     'version': results[name][-1]['version'], 'python': results[name][-1]['python']}
        if 'pytorch' in seconds:
            out[name]['speed_vs_pytorch'] = peers.per_round_ratios(seconds['pytorch'], s)
    return out


def table(summary, title):
    def rng(d, fmt):
        return f"{format(d['median'], fmt)} ({format(d['min'], fmt)}-{format(d['max'], fmt)})"
    print(f"\n{title}")
    print(f"{'framework':<10} {'s/epoch (range)':>22} {'samples/s (range)':>30} {'time/numbanet':>20} "
          f"{'speed/pytorch':>20}   version")
    for name, r in summary.items():
        torch = rng(r['speed_vs_pytorch'], '.2f') if 'speed_vs_pytorch' in r else ''
        print(f"{name:<10} {rng(r['seconds_per_epoch'], '.3f'):>22} {rng(r['samples_per_second'], ',.0f'):>30} "
              f"{rng(r['time_vs_numbanet'], '.2f'):>20} {torch:>20}   {r['version']}")


def compare(args):
    args.threads = args.threads or os.cpu_count()
    pythons = interpreters(args)
    with tempfile.TemporaryDirectory(prefix='numbanet-compare-') as tmp:
        data = os.path.join(tmp, 'data.npz')
        made = peers.run_child(sys.executable, [HERE, 'data', '--out', data]
                               + (['--limit', str(args.limit)] if args.limit else []), 'numbanet')
        results = timings(pythons, data, args)
    print(f"Reference MLP 784-256-128-64-10, Adam, batch {workloads.BATCH}, {made['samples']:,} {made['source']} "
          f"samples per epoch, {args.threads} threads; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; {args.rounds} interleaved rounds, one fresh process per framework and round, "
          f"each timing one epoch after a warm-up epoch")
    idle = summarise(results, list(pythons))
    table(idle, 'Without added load' if args.contend else 'Median (min-max) over rounds')
    out = {'samples': made['samples'], 'source': made['source'], 'threads': args.threads, 'rounds': args.rounds,
           'idle': idle, 'seconds': {name: [r['seconds'] for r in rs] for name, rs in results.items()}}
    if args.contend:
        loaded = {name: results[f'{name} loaded'] for name in pythons}
        out['loaded'] = summarise(loaded, list(pythons))
        table(out['loaded'], f"With {args.contend} competing busy process(es)")
        out['slowdown_under_load'] = {name: peers.per_round_ratios(out['seconds'][f'{name} loaded'],
                                                                   out['seconds'][name]) for name in pythons}
        print(f"\n{'framework':<10} {'slowdown under load (range)':>28}")
        for name, d in out['slowdown_under_load'].items():
            print(f"{name:<10} {d['median']:>14.2f}x ({d['min']:.2f}-{d['max']:.2f})")
    if args.json:
        print(json.dumps(out))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('mode', nargs='?', default='compare', choices=['compare', 'worker', 'data'],
                   help='compare (the default) drives worker and data children')
    p.add_argument('--rounds', type=int, default=3, help='fresh processes per framework, interleaved')
    p.add_argument('--limit', type=int, default=None, help='samples per epoch (default: all 60,000)')
    p.add_argument('--threads', type=int, default=None, help='threads per framework (default: cores)')
    p.add_argument('--only', default=None, help='comma-separated peers to run: numpy,pytorch,jax (numbanet always)')
    p.add_argument('--torch-python', default=None, help='an interpreter with torch (default: this one, if it has it)')
    p.add_argument('--jax-python', default=None, help='an interpreter with jax (default: this one, if it has it)')
    p.add_argument('--contend', type=int, default=0, help='also time each with N busy processes running')
    p.add_argument('--json', action='store_true', help='print the results as one JSON object at the end')
    p.add_argument('--framework', choices=sorted(workloads.FRAMEWORKS), help='(worker) the framework to time')
    p.add_argument('--data', help='(worker) the file written by the data child')
    p.add_argument('--out', help='(data) where to write the data and initial weights')
    args = p.parse_args(argv)
    unknown = set(args.only.split(',')) - set(workloads.FRAMEWORKS) if args.only else set()
    if unknown:
        p.error(f"--only takes {', '.join(workloads.FRAMEWORKS)}; got {', '.join(sorted(unknown))}")
    if args.mode == 'worker':
        worker(args)
    elif args.mode == 'data':
        write_data(args)
    else:
        return compare(args)


if __name__ == '__main__':
    main()
