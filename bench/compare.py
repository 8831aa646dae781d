"""numbanet against every installed peer on the reference MLP: one table of training samples/s and
seconds per epoch, measured interleaved (one epoch of each framework per round) so that the noise of a
shared machine hits all of them alike.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py [--rounds 3] [--contend 1]

--contend N repeats the rounds with N busy-looping processes running, and reports each framework's
slowdown under that load.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def run_rounds(frameworks, rounds):
    times = {f.name: [] for f in frameworks}
    for _ in range(rounds):
        for f in frameworks:
            times[f.name].append(workloads.timed(f.epoch))
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(frameworks, epoch, n, title):
    base = epoch['numbanet']
    torch_time = epoch.get('pytorch')
    print(f"\n{title}")
    print(f"{'framework':<12} {'samples/s':>11} {'s/epoch':>9} {'time/numbanet':>14} {'speed/pytorch':>14}   version")
    for f in frameworks:
        t = epoch[f.name]
        vs_torch = f"{torch_time / t:.2f}x" if torch_time else ''
        print(f"{f.name:<12} {n / t:>11,.0f} {t:>9.3f} {t / base:>13.2f}x {vs_torch:>14}   {f.version()}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=3, help='epochs timed per framework (median reported)')
    p.add_argument('--limit', type=int, default=None, help='samples per epoch (default: all 60,000)')
    p.add_argument('--threads', type=int, default=None, help='threads for numbanet and PyTorch (default: cores)')
    p.add_argument('--contend', type=int, default=0, help='also measure with N busy processes running')
    p.add_argument('--only', default=None, help='comma-separated frameworks to run (numbanet always runs)')
    p.add_argument('--json', action='store_true', help='print the results as one JSON object at the end')
    args = p.parse_args(argv)
    import numbanet
    if args.threads:
        numbanet.set_num_threads(args.threads)
    x, y, _, _, source = workloads.mnist_or_synthetic(args.limit)
    keep = None if not args.only else set(args.only.split(',')) | {'numbanet'}
    frameworks = workloads.peers(threads=args.threads or os.cpu_count(), only=keep)
    for f in frameworks:
        f.prepare(x, y)
        f.epoch()  # warm-up: compilation, caches, allocator pools
    print(f"Reference MLP 784-256-128-64-10, Adam, batch {workloads.BATCH}, {len(x):,} {source} samples per epoch; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; median of {args.rounds} "
          f"interleaved epochs")
    idle = run_rounds(frameworks, args.rounds)
    table(frameworks, idle, len(x), 'Idle machine')
    result = {'samples': len(x), 'source': source, 'idle_seconds_per_epoch': idle}
    if args.contend:
        # Separate busy-looping interpreters (not forks of this one, which holds thread pools).
        procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(args.contend)]
        time.sleep(0.5)
        try:
            loaded = run_rounds(frameworks, args.rounds)
        finally:
            for proc in procs:
                proc.kill()
        table(frameworks, loaded, len(x), f"With {args.contend} competing CPU-bound process(es)")
        print(f"\n{'framework':<12} {'slowdown under load':>20}")
        for f in frameworks:
            print(f"{f.name:<12} {loaded[f.name] / idle[f.name]:>19.2f}x")
        result['loaded_seconds_per_epoch'] = loaded
    if args.json:
        print(json.dumps(result))


if __name__ == '__main__':
    main()
