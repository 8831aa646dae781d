"""The CUDA tests run on a real GPU, or under numba's simulator when NUMBA_ENABLE_CUDASIM=1 was set before
numba was imported (tests/test_cuda.py starts them that way). Anywhere else they are skipped."""
import os

import pytest

from numbanet.backend import cuda_available, simulator_active

if not (cuda_available() or simulator_active()):
    pytest.skip("no GPU, and numba's CUDA simulator is off (tests/test_cuda.py runs these under it)",
                allow_module_level=True)

os.environ.setdefault('NUMBANET_ALLOW_CUDASIM', '1')
