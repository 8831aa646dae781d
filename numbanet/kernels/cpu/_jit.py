"""numba.njit as the CPU kernels use it: numba's own, without the C-callable wrapper it would otherwise build
beside every signature it compiles. That wrapper serves a jitted function passed as a first-class value (a
cfunc-style call), which numbanet never makes: jitted callers call the function itself, and _compiled.py calls
a body through the address of the function itself too. Dropping it saves about 9 ms a signature: the README's
`examples/mnist.py --epochs 1 --limit 5000` from an empty cache took 4.66-4.76 s against 4.88-5.01 s, three
rounds alternating with the commit before (2026-11-30). The function stays callable from Python as before (numba's
`no_cpython_wrapper` would save more, but a call from Python then crashes the process)."""
import functools

import numba

njit = functools.partial(numba.njit, no_cfunc_wrapper=True)
