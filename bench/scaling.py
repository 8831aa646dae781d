"""How numbanet's training throughput scales with the MLP's width and the batch size, against PyTorch and the
GEMM limit, each timed in its own fresh interpreter (bench/peers.py).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/scaling.py [--sweep both|width|batch]
        [--rounds 3] [--threads 2] [--seconds 1] [--steps 8] [--torch-python PY] [--json PATH] [--svg PATH]

The sweeps:
    width   MLP 784-h-h-h-10 at batch 128, h = 256, 512, 1024, 2048, 4096
    batch   the reference MLP 784-256-128-64-10 at batch 32, 64, ..., 1024
The model, its initial weights, the loss (softmax cross-entropy) and Adam 1e-3 are bench/workloads.py's, the
ones compare.py trains, so the batch sweep's point at 128 is compare.py's step. The data is random, of MNIST's
shape, made from one seed in each child.

A child trains one model: a warm-up (compilation, caches, thread pools) of --seconds / 5, then whole epochs of
--steps batches for at least --seconds, and reports samples/s. The GEMM limit's child runs only the step's
matrix products in numpy's BLAS (bench/gemm_limit.py): the samples/s of a step that did nothing else. GFLOP/s
is those products' FLOPs per sample times samples/s, for every framework alike: what the rest of a step costs
(bias, activations, loss, Adam, Python) shows as time, not as FLOPs. Each round starts one process per point
and framework, point by point, so the frameworks at one point run back to back; the table gives the median
and the range over rounds, and the ratios are taken round by round.

--threads goes to numbanet and PyTorch through their own settings, and to numpy's OpenBLAS through
OPENBLAS_NUM_THREADS in its child's environment. OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE, when set, slow
numpy's BLAS and so lower the GEMM limit: the script warns, and leaves them as they are.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemm_limit  # noqa: E402
import peers  # noqa: E402
import scaling_report  # noqa: E402
import workloads  # noqa: E402

HERE = os.path.abspath(__file__)
WIDTHS = (256, 512, 1024, 2048, 4096)
BATCHES = (32, 64, 128, 256, 512, 1024)
SLOW_BLAS = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
# what each child times -> the framework whose modules alone it may load (peers.MODULES)
PROCESS = {'numbanet': 'numbanet', 'pytorch': 'pytorch', 'gemm': 'numpy'}


# ---- the children ----------------------------------------------------------------------------------------
def throughput(run, samples, seconds):
    """(samples/s, seconds, calls) of calling run(), which handles `samples`, until `seconds` have passed."""
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * samples / elapsed, elapsed, calls


def worker(args):
    sizes = args.sizes
    if args.framework == 'gemm':
        run = gemm_limit.GemmStep(sizes, args.batch, args.seed)
        samples, version = args.batch, run.version()
    else:
        cls, _ = workloads.FRAMEWORKS[args.framework]
        fw = cls(seed=args.seed, threads=args.threads, sizes=sizes, batch_size=args.batch)
        rng = np.random.default_rng(args.seed)
        samples = args.steps * args.batch
        fw.prepare(rng.random((samples, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], samples))
        run, version = fw.epoch, fw.version()
    throughput(run, samples, args.seconds / 5)
    rate, seconds, calls = throughput(run, samples, args.seconds)
    print(json.dumps({'framework': PROCESS[args.framework], 'samples_per_second': rate, 'seconds': seconds,
                      'calls': calls, 'version': version, 'modules': peers.loaded_frameworks()}))


# ---- the parent ------------------------------------------------------------------------------------------
def points(sweep, widths=WIDTHS, batches=BATCHES):
    """The sweep's points: x (what the sweep varies), the MLP's layer sizes, the batch size."""
    if sweep == 'width':
        return [{'x': h, 'sizes': (784, h, h, h, 10), 'batch': workloads.BATCH} for h in widths]
    return [{'x': b, 'sizes': workloads.SIZES, 'batch': b} for b in batches]


def measure(sweep_points, pythons, rounds, threads, seconds, steps):
    """One summary per point (see summarise); pythons maps what to time (PROCESS's keys) to its interpreter."""
    def child(kind, point):
        argv = [HERE, 'worker', '--framework', kind, '--sizes', ','.join(map(str, point['sizes'])),
                '--batch', str(point['batch']), '--threads', str(threads), '--seconds', str(seconds),
                '--steps', str(steps)]
        env = {'OPENBLAS_NUM_THREADS': str(threads)} if kind == 'gemm' else None
        return peers.run_child(pythons[kind], argv, PROCESS[kind], env=env)
    runs = {(i, kind): lambda kind=kind, point=point: child(kind, point)
            for i, point in enumerate(sweep_points) for kind in pythons}
    results = peers.interleaved(runs, rounds)
    return [summarise(point, {kind: results[i, kind] for kind in pythons}) for i, point in enumerate(sweep_points)]


def summarise(point, reports):
    """The point, the GEMMs' FLOPs per sample, and per framework the spreads of samples/s and GFLOP/s; the
    ratios numbanet / PyTorch and numbanet / GEMM limit, round by round."""
    flops = gemm_limit.flops_per_sample(point['sizes'])
    rates = {kind: [r['samples_per_second'] for r in rs] for kind, rs in reports.items()}
    out = dict(point, sizes=list(point['sizes']), flops_per_sample=flops, frameworks={})
    for kind, rs in rates.items():
        out['frameworks'][kind] = {'samples_per_second': peers.spread(rs),
                                   'gflops': peers.spread([r * flops / 1e9 for r in rs]),
                                   'by_round': rs, 'version': reports[kind][-1]['version']}
    if 'pytorch' in rates:
        out['numbanet_vs_pytorch'] = peers.per_round_ratios(rates['numbanet'], rates['pytorch'])
    if 'gemm' in rates:
        out['numbanet_of_gemm_limit'] = peers.per_round_ratios(rates['numbanet'], rates['gemm'])
    return out


def blas_warning(environ=os.environ):
    """The warning to print when numpy's BLAS runs slow in this environment, else None."""
    slow = [f'{name}={environ[name]}' for name in SLOW_BLAS if name in environ]
    if slow:
        return (f"warning: {' '.join(slow)} is set, which slows numpy's BLAS: the GEMM limit will read low. "
                f"Run under `env -u {' -u '.join(SLOW_BLAS)}`.")
    return None


def interpreters(torch_python):
    """What to time -> its interpreter: numbanet and the GEMM limit here, PyTorch where it is found."""
    out = {'numbanet': sys.executable}
    torch = peers.python_with('torch', torch_python)
    if torch:
        out['pytorch'] = torch
    else:
        print("PyTorch: not importable here and no --torch-python given: skipped")
    out['gemm'] = sys.executable
    return out


def scaling(args):
    warning = blas_warning()
    if warning:
        print(warning, file=sys.stderr)
    pythons = interpreters(args.torch_python)
    start = time.perf_counter()
    sweeps = {}
    for sweep in (('width', 'batch') if args.sweep == 'both' else (args.sweep,)):
        sweeps[sweep] = measure(points(sweep, args.widths, args.batches), pythons, args.rounds, args.threads,
                                args.seconds, args.steps)
    out = {'threads': args.threads, 'rounds': args.rounds, 'seconds': args.seconds, 'steps': args.steps,
           'machine': platform.processor() or platform.machine(), 'cpus': os.cpu_count(),
           'environment': {name: os.environ.get(name) for name in SLOW_BLAS},
           'pythons': pythons, 'wall_seconds': time.perf_counter() - start, 'sweeps': sweeps}
    print(scaling_report.markdown(out))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    if args.svg:
        with open(args.svg, 'w') as f:
            f.write(scaling_report.svg(out))
    return out


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def positive_list(text):
    return tuple(positive(int)(part) for part in text.split(','))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('mode', nargs='?', default='scaling', choices=['scaling', 'worker'],
                   help='scaling (the default) drives the worker children')
    p.add_argument('--sweep', default='both', choices=['both', 'width', 'batch'])
    p.add_argument('--widths', type=positive_list, default=WIDTHS, help='(width sweep) comma-separated h')
    p.add_argument('--batches', type=positive_list, default=BATCHES, help='(batch sweep) comma-separated sizes')
    p.add_argument('--rounds', type=positive(int), default=3, help='fresh processes per point and framework')
    p.add_argument('--threads', type=positive(int), default=2, help='threads per framework')
    p.add_argument('--seconds', type=positive(float), default=1.0, help='timed seconds per process, at least')
    p.add_argument('--steps', type=positive(int), default=8, help='batches per timed epoch')
    p.add_argument('--torch-python', default=None, help='an interpreter with torch (default: this one, if it has it)')
    p.add_argument('--json', metavar='PATH', help='write the results there as JSON')
    p.add_argument('--svg', metavar='PATH', help='write the plot there as SVG')
    p.add_argument('--framework', choices=sorted(PROCESS), help='(worker) what to time')
    p.add_argument('--sizes', type=positive_list, help='(worker) the MLP layer sizes, comma-separated')
    p.add_argument('--batch', type=positive(int), help='(worker) the batch size')
    p.add_argument('--seed', type=int, default=0, help='(worker) of the data and initial weights')
    args = p.parse_args(argv)
    if args.torch_python and not os.access(args.torch_python, os.X_OK):
        p.error(f"--torch-python must be an executable interpreter, got {args.torch_python!r}")
    if args.mode == 'worker':
        if not (args.framework and args.sizes and args.batch):
            p.error('worker needs --framework, --sizes and --batch')
        if len(args.sizes) < 2:
            p.error(f"--sizes needs an input and an output size at least, got {args.sizes}")
        return worker(args)
    return scaling(args)


if __name__ == '__main__':
    main()
