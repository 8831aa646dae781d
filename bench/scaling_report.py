"""scaling.py's results as a Markdown table per sweep and as an SVG plot (samples/s and GFLOP/s per sweep)."""
import svg_plot

NAMES = {'numbanet': 'numbanet', 'pytorch': 'PyTorch', 'gemm': 'GEMM limit'}
SWEEPS = {  # sweep -> (heading, the column and axis label of x)
    'width': ('MLP 784-h-h-h-10, batch 128', 'hidden width h'),
    'batch': ('reference MLP 784-256-128-64-10', 'batch size'),
}


def ranged(d, fmt, suffix=''):
    """'median (min-max)', or the median alone when every round gave the same."""
    median = format(d['median'], fmt) + suffix
    if d['min'] == d['max']:
        return median
    return f"{median} ({format(d['min'], fmt)}-{format(d['max'], fmt)}{suffix})"


def percent(d):
    return ranged({k: 100 * v for k, v in d.items()}, '.0f', '%')


# the per-round ratios a summary may hold: key, column title, how a cell shows it
RATIOS = (('numbanet_vs_pytorch', 'numbanet / PyTorch', lambda d: ranged(d, '.2f', 'x')),
          ('numbanet_of_gemm_limit', 'numbanet / GEMM limit', percent))


def table(points):
    """The column headers and one row of cells per point."""
    kinds = list(points[0]['frameworks'])
    ratios = [(key, title, cell) for key, title, cell in RATIOS if key in points[0]]
    header = [f'{NAMES[kind]} {unit}' for kind in kinds for unit in ('samples/s', 'GFLOP/s')]
    header += [title for _, title, _ in ratios]
    rows = []
    for p in points:
        row = [f"{p['x']:,}"]
        for kind in kinds:
            f = p['frameworks'][kind]
            row += [ranged(f['samples_per_second'], ',.0f'), format(f['gflops']['median'], '.1f')]
        rows.append(row + [cell(p[key]) for key, _, cell in ratios])
    return header, rows


def markdown(out):
    """The run's conditions, then one table per sweep."""
    lines = [f"Training steps (Adam, softmax cross-entropy) on random MNIST-shaped data, {out['threads']} threads, "
             f"{out['machine']}, {out['cpus']} cores; {out['rounds']} interleaved round(s), one fresh process per "
             f"point, framework and round; median (min-max) over rounds; GFLOP/s counts the step's GEMMs only "
             f"({out['wall_seconds']:.0f} s in all)."]
    for sweep, points in out['sweeps'].items():
        heading, label = SWEEPS[sweep]
        header, rows = table(points)
        flops = points[0]['flops_per_sample'] if sweep == 'batch' else None
        lines += ['', f"**{heading}**" + (f", {flops / 1e6:.2f} MFLOP per sample" if flops else ''), '',
                  '| ' + ' | '.join([label] + header) + ' |', '|' + '---:|' * (len(header) + 1)]
        lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    versions = {kind: f['version'] for points in out['sweeps'].values() for kind, f in points[-1]['frameworks'].items()}
    lines += [''] + [f"- {NAMES[kind]}: {version}" for kind, version in versions.items()]
    return '\n'.join(lines)


def panels(sweep, points):
    heading, label = SWEEPS[sweep]
    xs = [p['x'] for p in points]

    def series(measure):
        return [{'name': NAMES[kind], 'dashed': kind == 'gemm',
                 'points': [(p['x'], *(p['frameworks'][kind][measure][k] for k in ('median', 'min', 'max')))
                            for p in points]}
                for kind in points[0]['frameworks']]
    return [{'title': f'{heading}: samples/s', 'xlabel': label, 'ylabel': 'samples/s', 'xticks': xs,
             'log_y': True, 'series': series('samples_per_second')},
            {'title': f'{heading}: GFLOP/s', 'xlabel': label, 'ylabel': "GFLOP/s (the step's GEMMs)",
             'xticks': xs, 'log_y': False, 'series': series('gflops')}]


def svg(out):
    charts = [panel for sweep, points in out['sweeps'].items() for panel in panels(sweep, points)]
    title = (f"MLP training throughput, {out['threads']} threads, {out['machine']}: median and range over "
             f"{out['rounds']} round(s)")
    return svg_plot.line_chart(charts, columns=2, title=title)
