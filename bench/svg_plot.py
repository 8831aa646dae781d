"""Line charts as SVG text, written by hand so that bench/ needs no plotting library.

line_chart(panels) lays panels out in a grid under one legend. A panel is a dict:
    title, xlabel, ylabel   text
    xticks                  the x values to mark (the x axis is logarithmic: the sweeps double)
    log_y                   a logarithmic y axis (True) or a linear one from zero (False)
    series                  [{'name', 'points': [(x, y, low, high)], 'dashed': bool}]; low-high is drawn as
                            a whisker where it is wider than a point
A series keeps its colour in every panel, so one legend serves them all.
"""
import math
from xml.sax.saxutils import escape

COLOURS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')
WIDTH, HEIGHT = 440, 300  # one panel
MARGIN = dict(left=64, right=16, top=30, bottom=46)
LEGEND = 30
FONT = 'font-family="sans-serif" font-size="12"'
TITLE_FONT = 'font-family="sans-serif" font-size="14"'


def short(value):
    """12000 -> 12k, 2500000 -> 2.5M, 0.5 -> 0.5: tick labels that fit."""
    for scale, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(value) >= scale:
            return f'{value / scale:g}{suffix}'
    return f'{value:g}'


def linear_ticks(top):
    """Ticks from 0 at a step of 1, 2 or 5 times a power of ten, about five of them, the last >= top."""
    top = top if top > 0 else 1
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def log_ticks(low, high):
    """Ticks at 1, 2 and 5 times the powers of ten from one at or below low to one at or above high; only the
    powers of ten when that range spans more than two decades."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if last == first:
        last += 1
    steps = (1,) if last - first > 2 else (1, 2, 5)
    ticks = [m * 10 ** e for e in range(first, last + 1) for m in steps]
    # trim to the decade-or-less around the data, so a narrow range is not squeezed into one corner
    below = [t for t in ticks if t <= low]
    above = [t for t in ticks if t >= high]
    return [t for t in ticks if below[-1] <= t <= above[0]]


class Axes:
    """Maps data to pixels inside one panel whose top-left corner is (x0, y0)."""

    def __init__(self, panel, x0, y0):
        xs = [p[0] for s in panel['series'] for p in s['points']] + list(panel['xticks'])
        ys = [v for s in panel['series'] for p in s['points'] for v in p[1:] if v is not None and v > 0]
        ys = ys or [1]
        self.log_y = panel['log_y']
        self.yticks = log_ticks(min(ys), max(ys)) if self.log_y else linear_ticks(max(ys))
        self.xlo, self.xhi = math.log(min(xs)), math.log(max(xs))
        if self.xhi == self.xlo:
            self.xlo, self.xhi = self.xlo - 1, self.xhi + 1
        ylo, yhi = self.yticks[0], self.yticks[-1]
        self.ylo, self.yhi = (math.log(ylo), math.log(yhi)) if self.log_y else (ylo, yhi)
        self.left, self.right = x0 + MARGIN['left'], x0 + WIDTH - MARGIN['right']
        self.top, self.bottom = y0 + MARGIN['top'], y0 + HEIGHT - MARGIN['bottom']

    def x(self, value):
        pad = 0.04 * (self.xhi - self.xlo)  # keep the end points off the axes
        f = (math.log(value) - self.xlo + pad) / (self.xhi - self.xlo + 2 * pad)
        return self.left + f * (self.right - self.left)

    def y(self, value):
        v = math.log(value) if self.log_y else value
        f = (v - self.ylo) / (self.yhi - self.ylo)
        return self.bottom - f * (self.bottom - self.top)


def panel_svg(panel, x0, y0, colours):
    ax = Axes(panel, x0, y0)
    out = [f'<text x="{(ax.left + ax.right) / 2:.1f}" y="{y0 + 18}" text-anchor="middle" {FONT} '
           f'font-weight="bold">{escape(panel["title"])}</text>']
    for t in ax.yticks:
        y = ax.y(t)
        out.append(f'<line x1="{ax.left}" y1="{y:.1f}" x2="{ax.right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{ax.left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{short(t)}</text>')
    for t in panel['xticks']:
        x = ax.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{ax.bottom}" x2="{x:.1f}" y2="{ax.bottom + 5}" stroke="black"/>')
        label = f'{t:d}' if isinstance(t, int) and t < 100000 else short(t)  # 1024, not 1.024k
        out.append(f'<text x="{x:.1f}" y="{ax.bottom + 18}" text-anchor="middle" {FONT}>{label}</text>')
    out.append(f'<polyline points="{ax.left},{ax.top} {ax.left},{ax.bottom} {ax.right},{ax.bottom}" '
               f'fill="none" stroke="black"/>')
    out.append(f'<text x="{(ax.left + ax.right) / 2:.1f}" y="{ax.bottom + 36}" text-anchor="middle" {FONT}>'
               f'{escape(panel["xlabel"])}</text>')
    cy = (ax.top + ax.bottom) / 2
    out.append(f'<text x="{x0 + 16}" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 {x0 + 16} {cy:.1f})" '
               f'{FONT}>{escape(panel["ylabel"])}</text>')
    for s in panel['series']:
        colour = colours[s['name']]
        points = [p for p in s['points'] if p[1] is not None and p[1] > 0]
        dash = ' stroke-dasharray="6 4"' if s.get('dashed') else ''
        line = ' '.join(f'{ax.x(p[0]):.1f},{ax.y(p[1]):.1f}' for p in points)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for x, y, low, high in points:
            px, py = ax.x(x), ax.y(y)
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
            if low and high and ax.y(low) - ax.y(high) > 2:
                out.append(f'<line x1="{px:.1f}" y1="{ax.y(low):.1f}" x2="{px:.1f}" y2="{ax.y(high):.1f}" '
                           f'stroke="{colour}"/>')
    return out


def line_chart(panels, columns=2, title=''):
    """One SVG document holding the panels, `columns` to a row, under a title and a legend of every series."""
    names = list(dict.fromkeys(s['name'] for p in panels for s in p['series']))
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}
    dashed = {s['name'] for p in panels for s in p['series'] if s.get('dashed')}
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    top = LEGEND + (20 if title else 0)
    width, height = columns * WIDTH, top + rows * HEIGHT
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">', f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="{width / 2}" y="18" text-anchor="middle" {TITLE_FONT}>'
                   f'{escape(title)}</text>')
    x = 20
    for name in names:
        dash = ' stroke-dasharray="6 4"' if name in dashed else ''
        y = top - 12
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{colours[name]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 30}" y="{y + 4}" {FONT}>{escape(name)}</text>')
        x += 40 + 8 * len(name)
    for i, panel in enumerate(panels):
        out += panel_svg(panel, (i % columns) * WIDTH, top + (i // columns) * HEIGHT, colours)
    out.append('</svg>')
    return '\n'.join(out) + '\n'
