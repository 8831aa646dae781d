"""Parallel loops without numba's parfors: parallel_for(pool, table, slot, n, per, args), in jitted code, runs
the body in table[slot] (_compiled.py) as body(*args, lo, hi) for [lo, hi) = [0, per), [per, 2 per), ... up
to n, the pieces shared out between threads by numba's own threading layer (OpenMP, TBB or its workqueue).
launch() is the same for Python callers.

Why: a prange costs a cold start about 0.3 s even when its loop is empty, and 0.4-0.8 s for each of the
MLP's four parallel kernels (bench/compile_report.py): numba turns the loop body into a gufunc, runs its
whole pipeline on it a second time, and LLVM optimises the caller and the gufunc and everything linked into
them again. Here the body is an ordinary jitted function compiled once for its argument types, the caller
compiles as a serial function, and the only code made per call site is a dozen instructions of LLVM IR: a
trampoline that the threading layer calls with a run of piece numbers, and that calls the body through its
address for each.

The threading layer calls the trampoline as it calls a parfor's gufunc (void(char **args, intp *dims, intp
*steps, void *data)): dims[0] pieces starting at piece (args[0] - data), which is how it hands each thread
its share of one array argument whose step is 1 byte. data holds the body's address, n, per and the
arguments. The layer's parallel_for and get_num_threads are found through their addresses in POOL, which
pool() fills on first use: a caller loaded from numba's cache reads this process's addresses, as
_compiled.py's TABLE does.

A body must not raise: like numba's own parallel launch, the trampoline drops a body's error status. The
launch checks the slot's argument types before anything runs, and the caller checks the arguments
themselves (indices, shapes). Under NUMBA_DISABLE_JIT the pieces run in turn, as plain Python.
"""
import threading

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import lower_builtin
from numba.extending import type_callable

from numbanet.kernels.cpu._compiled import TABLE, call, slot_for, types_hash
from numbanet.kernels.cpu._jit import njit

POOL = np.zeros(2, np.int64)  # the threading layer's parallel_for and get_num_threads, once pool() has run
LO_HI = (np.int64(0), np.int64(0))  # as a body's last two arguments: the types slot_for needs for them
_LOCK = threading.Lock()

_I8P = ir.IntType(8).as_pointer()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_PARALLEL_FOR = ir.FunctionType(ir.VoidType(), [_I8P, _I8P.as_pointer(), _I64.as_pointer(), _I64.as_pointer(),
                                                _I8P, _I64, _I64, _I32])
_COUNT = ir.FunctionType(_I32, [])  # the layer's get_num_threads: the calling thread's count
_TRAMPOLINE = ir.FunctionType(ir.VoidType(), [_I8P.as_pointer(), _I64.as_pointer(), _I64.as_pointer(), _I8P])


def pool():
    """POOL, with the threading layer started (numba starts it on first use) and its functions' addresses in it."""
    if not POOL[1] and not numba.config.DISABLE_JIT:
        with _LOCK:
            if not POOL[1]:
                numba.get_num_threads()  # starts the threading layer, which registers its symbols with LLVM
                POOL[0] = llvm.address_of_symbol('numba_parallel_for') or 0  # (0: every launch runs serially)
                POOL[1] = llvm.address_of_symbol('get_num_threads') or 0
    return POOL


def parallel_for(pool, table, slot, n, per, args):
    """table[slot](*args, lo, hi) for every piece [lo, hi) of [0, n) in steps of per, shared out between the
    calling thread's numba threads (numba.set_num_threads), or all on the calling thread for one thread or
    one piece. pool is pool()'s array: zeros there, the pieces run on the calling thread too. Raises TypeError
    unless table[slot] holds a body compiled for (*args, int64, int64), and ValueError for per < 1."""
    if per < 1:
        raise ValueError("parallel_for: per must be at least 1")
    for lo in range(0, n, per):
        call(table, slot, *args, np.int64(lo), np.int64(min(n, lo + per)))


@njit(cache=True)
def launch(pool, table, slot, n, per, *args):
    """parallel_for(pool, table, slot, n, per, args), for Python callers."""
    parallel_for(pool, table, slot, n, per, args)


def run(body, n, per, *args):
    """body(*args, lo, hi) for the pieces [lo, hi) of [0, n) in steps of per, on numba's threads: launch() for
    a Python caller that names a jitted body."""
    launch(pool(), TABLE, slot_for(body, args + LO_HI), n, per, *args)


def bands(body, n, threads, *args):
    """run() in one band of [0, n) per thread: threads is the count the caller read to choose this path."""
    run(body, n, max(1, -(-n // threads)), *args)


# Lowered straight to IR, not through @overload: an overload's implementation compiles as a numba function of
# its own and is linked into every caller, about 0.25 s a caller (a scratch A/B of one parallel kernel).
@type_callable(parallel_for)
def _type_parallel_for(context):
    def typer(pool, table, slot, n, per, args):
        addresses = all(isinstance(a, types.Array) and a.dtype == types.int64 and a.ndim == d
                        for a, d in ((pool, 1), (table, 2)))
        counts = all(isinstance(t, types.Integer) for t in (slot, n, per))
        if addresses and counts and isinstance(args, types.BaseTuple):
            return types.none
    return typer


@lower_builtin(parallel_for, types.Array, types.Array, types.Integer, types.Integer, types.Integer, types.BaseTuple)
def _lower_parallel_for(context, builder, sig, llargs):
    pool_ty, table_ty, slot_ty, n_ty, per_ty, args = sig.args
    argtys = tuple(args.types) + (types.int64, types.int64)
    pool, table, slot, n, per, packed = llargs
    slot, n, per = (context.cast(builder, v, t, types.int64) for v, t in zip((slot, n, per), (slot_ty, n_ty, per_ty)))
    table = context.make_array(table_ty)(context, builder, table)
    rows = cgutils.unpack_tuple(builder, table.shape)
    outside = builder.or_(builder.icmp_signed('<', slot, _I64(0)), builder.icmp_signed('>=', slot, rows[0]))
    with cgutils.if_unlikely(builder, outside):
        context.call_conv.return_user_exc(builder, TypeError, ("parallel_for: no such slot",))
    shape, strides = rows, cgutils.unpack_tuple(builder, table.strides)
    body = builder.load(cgutils.get_item_pointer2(context, builder, table.data, shape, strides, table_ty.layout,
                                                  [slot, _I64(0)]))
    made_for = builder.load(cgutils.get_item_pointer2(context, builder, table.data, shape, strides,
                                                      table_ty.layout, [slot, _I64(1)]))
    with cgutils.if_unlikely(builder, builder.icmp_signed('!=', made_for, _I64(types_hash(argtys)))):
        context.call_conv.return_user_exc(builder, TypeError, ("the slot holds no body compiled for these arguments",))
    with cgutils.if_unlikely(builder, builder.icmp_signed('<', per, _I64(1))):
        context.call_conv.return_user_exc(builder, ValueError, ("parallel_for: per must be at least 1",))
    pool_arr = context.make_array(pool_ty)(context, builder, pool)
    short = builder.icmp_signed('<', cgutils.unpack_tuple(builder, pool_arr.shape)[0], _I64(2))
    with cgutils.if_unlikely(builder, short):
        context.call_conv.return_user_exc(builder, ValueError, ("parallel_for: pool must be pool()'s array",))
    # ceil(n / per) without n + per - 1, which a huge per would overflow; n < 0 makes no pieces (the workqueue
    # layer reads the count as unsigned: -1 would be 2**64 - 1 pieces).
    n = builder.select(builder.icmp_signed('<', n, _I64(0)), _I64(0), n)
    rest = builder.zext(builder.icmp_signed('>', builder.srem(n, per), _I64(0)), _I64)
    pieces = builder.add(builder.sdiv(n, per), rest)

    data_ty = ir.LiteralStructType([_I64, _I64, _I64, packed.type])
    data = cgutils.alloca_once(builder, data_ty)
    for i, value in enumerate((body, n, per, packed)):
        builder.store(value, cgutils.gep_inbounds(builder, data, 0, i))
    raw = builder.bitcast(data, _I8P)
    argv = cgutils.alloca_once(builder, _I8P)
    builder.store(raw, argv)  # piece r reaches the trampoline as raw + r: one array argument, a step of 1 byte
    dims = cgutils.alloca_once(builder, _I64)
    builder.store(pieces, dims)
    steps = cgutils.alloca_once(builder, _I64)
    builder.store(_I64(1), steps)
    trampoline = _trampoline(context, builder.module, argtys, data_ty)
    # The team is always the caller's whole thread count, as numba's own launch makes it: the layer sets every
    # team member's count to the team's size, the caller's included, so a smaller team would change the
    # caller's numba.get_num_threads() from then on. Pieces fewer than threads leave some idle.
    addresses = pool_arr.data
    where = builder.load(addresses)
    counter = builder.load(cgutils.gep(builder, addresses, 1))
    workers = cgutils.alloca_once_value(builder, _I32(1))
    with builder.if_then(builder.and_(builder.icmp_signed('>', pieces, _I64(1)),
                                      builder.icmp_signed('!=', counter, _I64(0)))):
        builder.store(builder.call(builder.inttoptr(counter, _COUNT.as_pointer()), []), workers)
    workers = builder.load(workers)
    alone = builder.or_(builder.icmp_signed('<=', workers, _I32(1)), builder.icmp_signed('==', where, _I64(0)))
    with builder.if_else(alone) as (serial, shared):
        with serial:
            builder.call(trampoline, [argv, dims, steps, raw])
        with shared:
            # Other Python threads run meanwhile, as around numba's own launch: nothing in it touches Python.
            pyapi = context.get_python_api(builder)
            gil = pyapi.gil_ensure()
            released = pyapi.save_thread()
            run = builder.inttoptr(where, _PARALLEL_FOR.as_pointer())
            builder.call(run, [builder.bitcast(trampoline, _I8P), argv, dims, steps, raw, _I64(0), _I64(1), workers])
            pyapi.restore_thread(released)
            pyapi.gil_release(gil)
    return context.get_dummy_value()


def _trampoline(context, module, argtys, data_ty):
    name = f"numbanet.parallel_for.{types_hash(argtys) & (2**64 - 1):016x}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, _TRAMPOLINE, name)
    fn.linkage = 'internal'
    builder = ir.IRBuilder(fn.append_basic_block('entry'))
    argv, dims, _, raw = fn.args
    first = builder.sub(builder.ptrtoint(builder.load(argv), _I64), builder.ptrtoint(raw, _I64))
    data = builder.bitcast(raw, data_ty.as_pointer())
    fields = [builder.load(cgutils.gep_inbounds(builder, data, 0, i)) for i in range(4)]
    body = builder.inttoptr(fields[0], context.call_conv.get_function_type(types.none, argtys).as_pointer())
    n, per, packed = fields[1:]
    values = [builder.extract_value(packed, i) for i in range(len(argtys) - 2)]
    with cgutils.for_range(builder, builder.load(dims)) as loop:
        lo = builder.mul(builder.add(first, loop.index), per)
        hi = builder.add(lo, per)
        hi = builder.select(builder.icmp_signed('<', n, hi), n, hi)
        context.call_conv.call_function(builder, body, types.none, argtys, values + [lo, hi])
    builder.ret_void()
    return fn
