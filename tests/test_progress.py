"""The progress bar's compile notice, driven by real numba compilations of a fresh function (a fraction of a
second each; the cold-cache run of a whole fit is in test_warmup.py)."""
import io

from numba import njit

from numbanet.progress import COMPILING, ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def compile_something(k):
    f = njit(lambda a: a + k)  # a new function each call: numba compiles it, there is nothing to load
    return f(1)


def test_a_compile_is_noticed_once_on_its_own_line_then_the_line_is_as_before():
    for verbose in (1, 2):
        out = io.StringIO()
        bar = ProgressBar(3, out, verbose, watch_compiles=True)
        compile_something(1)
        compile_something(2)
        bar.update(1, {'loss': 0.5})
        bar.update(3, {'loss': 0.25}, finished=True)
        lines = out.getvalue().splitlines()
        assert lines[0] == COMPILING and len(lines) == 2 and COMPILING not in lines[1]
        compile_something(3)  # the bar is finished: no longer listening
        assert out.getvalue().count(COMPILING) == 1


def test_on_a_terminal_the_notice_is_drawn_in_place_and_the_next_draw_replaces_it():
    out = Terminal()
    bar = ProgressBar(4, out, 1, watch_compiles=True, interval=0.0)
    bar.update(1, {'loss': 0.5})
    compile_something(4)
    drawn = out.getvalue().split('\r')[-1]
    assert drawn.startswith('1/4 ') and drawn.rstrip().endswith(f' - {COMPILING}')
    bar.update(2, {'loss': 0.5})
    last = out.getvalue().split('\r')[-1]
    assert COMPILING not in last and last.rstrip().endswith('loss: 0.5000')
    bar.end()  # an interrupted fit ends the line and stops listening
    compile_something(5)
    assert out.getvalue().count(COMPILING) == 1


def test_without_watch_compiles_nothing_is_said():
    out = io.StringIO()
    bar = ProgressBar(2, out, 2)
    compile_something(6)
    bar.update(2, {}, finished=True)
    assert COMPILING not in out.getvalue()
