"""Hand-written kernels. One module per device (cpu/ with numba.njit); each exposes the same names,
so the runtime calls `backend.kernels.<name>(...)` without knowing which device it is on."""
