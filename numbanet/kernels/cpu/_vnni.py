"""AVX-512 VNNI for the int8 matmul: `vpdpbusd` multiplies 4 unsigned bytes by 4 signed bytes in each of
16 lanes and adds the 4 products to an int32 lane, 64 multiply-adds an instruction.

LLVM does not form it from a numba loop (it picks 16-bit pmaddwd at best), so _dpbusd emits the
intrinsic: load 16 int32 accumulators, broadcast one 4-byte group of activations, multiply-add a row of
16 packed weight words, store. Called with constant offsets into a stack tile, the loads and stores fold
away and the accumulators stay in registers (as in matmul.py). HAS_VNNI says whether this CPU has it.
"""
import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _host_has_vnni():
    try:
        features = llvm.get_host_cpu_features()
        return bool(features.get('avx512vnni') and features.get('avx512f') and features.get('avx512bw'))
    except Exception:
        return False


HAS_VNNI = _host_has_vnni()


@intrinsic
def dpbusd(typingctx, acc, acc_offset, word, packed, packed_offset):
    # acc[acc_offset:+16] += sum over the 4 bytes of (u8 bytes of word) * (s8 bytes of packed[packed_offset:+16])
    def codegen(context, builder, signature, args):
        acc_v, acc_off, word_v, packed_v, packed_off = args
        acc_array = context.make_array(signature.args[0])(context, builder, acc_v)
        packed_array = context.make_array(signature.args[3])(context, builder, packed_v)
        vec = ir.VectorType(ir.IntType(32), 16)
        acc_ptr = builder.bitcast(builder.gep(acc_array.data, [acc_off]), vec.as_pointer())
        w_ptr = builder.bitcast(builder.gep(packed_array.data, [packed_off]), vec.as_pointer())
        word32 = builder.trunc(word_v, ir.IntType(32)) if word_v.type.width > 32 else word_v
        lane0 = builder.insert_element(ir.Constant(vec, ir.Undefined), word32, ir.Constant(ir.IntType(32), 0))
        broadcast = builder.shuffle_vector(lane0, ir.Constant(vec, ir.Undefined), ir.Constant(vec, [0] * 16))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                            'llvm.x86.avx512.vpdpbusd.512')
        result = builder.call(fn, [builder.load(acc_ptr, align=4), broadcast, builder.load(w_ptr, align=4)])
        builder.store(result, acc_ptr, align=4)
        return context.get_dummy_value()
    return types.void(acc, acc_offset, word, packed, packed_offset), codegen
