"""The cost of the one Allreduce a data-parallel step adds: the reference MLP's 242,762 float32 gradients.

    mpirun -n 2 python -m mpi4py bench/allreduce.py      # as root: --allow-run-as-root
"""
import time

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
grads = np.ones(242_762, np.float32)
for _ in range(20):
    comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
times = []
for _ in range(500):
    comm.Barrier()
    start = time.perf_counter()
    comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
    times.append(time.perf_counter() - start)
if comm.rank == 0:
    print(f"{comm.size} ranks, {MPI.Get_library_version().splitlines()[0]}: Allreduce of {grads.size:,} float32 "
          f"({grads.nbytes / 1e6:.2f} MB): median {np.median(times) * 1e3:.3f} ms, best {min(times) * 1e3:.3f} ms")
