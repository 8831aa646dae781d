"""A jitted function handed to another as a value, compiled for given argument types, and called through its
address: call(TABLE, slot, *args) in jitted code, for slot = compiled(fn, argtypes) or slot_for(fn, args).

Why: when one jitted function calls another by name, numba links the callee's whole LLVM module into the
caller's, and LLVM optimises and generates machine code for all of it again, at every level of the call tree.
The GEMM's tiles sat three levels down (gemm_rows, a parallel driver whose prange body was a function of its
own, gemm_entry), so every cold start paid for their code generation several times over: after gemm_rows
had compiled, gemm_entry and its parallel driver took 2.0 s more; called through gemm_rows' address, 0.4 s
(a cold gemm in a fresh process with an empty cache, two runs each). The fused convolution's kernels call
gemm_rows and their per-image helpers the same way (`python bench/compile_report.py --model convnet`: 20.5 s
wall before, 14.5 s after), and _launch.py's parallel loops call every body through its address. A call
through an address costs a few nanoseconds.

The address travels in TABLE, an int64 array that every caller takes as an argument: an array is what numba's
dispatcher types fastest, and a caller loaded from numba's cache reads this process's addresses from it. (An
object of a numba type of our own cost a small product about 1.5 us a call in the dispatcher's slow path, and
its memory grew.) Beside each address TABLE holds a hash of the argument types the body was compiled for, and
call() compares it with the hash of the types it hands over, fixed when the caller compiles: a mismatch raises
TypeError instead of running code that reads its arguments the wrong way. Under NUMBA_DISABLE_JIT, call()
calls the plain Python function.
"""
import hashlib
import inspect
import threading

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.dispatcher import Dispatcher
from numba.extending import intrinsic, overload

SLOTS = 1024  # bodies one process can make: one per function and argument types (a few dozen at most)
TABLE = np.zeros((SLOTS, 2), np.int64)  # per slot: the body's address, the hash of its argument types
_MADE = {}  # (fn, argtypes) -> slot
_FNS = []   # fn by slot, for call() as plain Python
_SLOTS = {}  # (fn, argtypes, what numba's types of the arguments depend on) -> slot
_LOCK = threading.Lock()


def types_hash(argtypes):
    """A hash of numba types that is the same in every process (it is compiled into cached callers)."""
    text = ', '.join(str(t) for t in argtypes)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), 'little', signed=True)


def compiled(fn, argtypes):
    """The slot of fn (an njit function) compiled for argtypes (numba types), made once: its address is in
    TABLE[slot]."""
    key = (fn, tuple(argtypes))
    made = _MADE.get(key)
    if made is None:
        with _LOCK:
            made = _MADE.get(key)
            if made is None:
                made = _MADE[key] = _make(fn, key[1])
    return made


def slot_for(fn, args, argtypes=None):
    """The slot of fn compiled for the types of args, as a jitted caller hands them over (ints as int64), or for
    argtypes(*args) where the caller hands on something else (a view of another layout). Keyed by what those
    types depend on: finding the numba types themselves makes new type objects on every call, garbage that a
    training step must not leave (tests/test_plan.py). Nor hand it exactly 20 args on every step: CPython 3.11
    keeps each freed tuple of 20 items on a free list that it never takes them from."""
    key = (fn, argtypes, tuple([type_key(a) for a in args]))  # (from a generator, it left garbage: CPython 3.11)
    slot = _SLOTS.get(key)
    if slot is None:
        made = argtypes(*args) if argtypes else tuple(numba.typeof(a) for a in args)
        slot = _SLOTS[key] = compiled(fn, made)
    return slot


def type_key(a):
    """What numba's type of a, as an argument, depends on: cheaper to find than the type."""
    if isinstance(a, np.ndarray):
        f = a.flags
        return a.dtype, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned
    if isinstance(a, tuple):
        return tuple([type_key(x) for x in a])
    return type(a)


def _make(fn, argtypes):
    slot = len(_FNS)
    if slot == SLOTS:
        raise RuntimeError(f"more than {SLOTS} compiled bodies in one process")
    address = 0
    if not numba.config.DISABLE_JIT:
        # A wrapper put in fn's place (functools.wraps) is bypassed: jitted code calls the compiled code itself.
        jitted = inspect.unwrap(fn, stop=lambda f: isinstance(f, Dispatcher))
        if not isinstance(jitted, Dispatcher):
            raise TypeError(f"compiled() needs a jitted function, got {fn!r}")
        jitted.compile(argtypes)
        result = jitted.overloads[argtypes]
        if result.signature.return_type != types.none:
            raise TypeError(f"a compiled body returns nothing; {fn!r} returns {result.signature.return_type}")
        # The library lives as long as fn's overloads, so the address does too.
        address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
    TABLE[slot] = address, types_hash(argtypes)
    _FNS.append(fn)
    return slot


def call(table, slot, *args):
    """The body in table[slot], called with args: fn(*args). (As plain Python, under
    NUMBA_DISABLE_JIT, nothing was compiled, so there are no types to check.)"""
    _FNS[slot](*args)


def _codegen(args):
    def codegen(context, builder, sig, llargs):
        where, packed = llargs
        argtys = tuple(args.types)
        values = [builder.extract_value(packed, i) for i in range(len(argtys))]
        fnty = context.call_conv.get_function_type(types.none, argtys)
        callee = builder.inttoptr(where, fnty.as_pointer())
        status, _ = context.call_conv.call_function(builder, callee, types.none, argtys, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _call_at(typingctx, address, args):
    return types.none(address, args), _codegen(args)


@overload(call)
def _call_jit(table, slot, *args):
    expected = types_hash(args)

    def impl(table, slot, *args):
        if slot < 0 or slot >= table.shape[0] or table[slot, 1] != expected:
            raise TypeError("the slot holds no body compiled for these arguments")
        _call_at(table[slot, 0], args)
    return impl
