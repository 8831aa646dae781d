"""A model file the user may not read is reported as such, also where the tests run as root (issue #16,
item 10: it was reported as "No such file or directory")."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import mlp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The child drops to an unprivileged user after importing numbanet: root reads any file, so tests/test_saving.py's
# chmod check is skipped under root, as in this project's CI containers.
CHILD = """
import os, sys
import numbanet
os.setgid(65534)
os.setuid(65534)
for load in (numbanet.models.load_model, numbanet.Sequential([numbanet.layers.Input((12,)), numbanet.layers.Dense(16),
                                                              numbanet.layers.Dense(8), numbanet.layers.Dense(5)]).load_weights):
    try:
        load(sys.argv[1])
    except Exception as e:
        print(type(e).__name__, e)
"""


@pytest.mark.skipif(not hasattr(os, 'geteuid') or os.geteuid() != 0, reason="tests/test_saving.py checks this as a user")
def test_an_unreadable_model_file_is_permission_denied_for_a_user_under_root():
    folder = tempfile.mkdtemp()  # under /tmp, which every user may enter
    try:
        os.chmod(folder, 0o755)
        path = os.path.join(folder, 'm.safetensors')
        mlp(hidden=(16, 8)).save(path)
        os.chmod(path, 0)
        out = subprocess.run([sys.executable, '-c', CHILD, path], capture_output=True, text=True, timeout=120,
                             env={**os.environ, 'PYTHONPATH': ROOT}, check=True).stdout.splitlines()
    finally:
        shutil.rmtree(folder)
    assert len(out) == 2 and all(line.startswith('PermissionError') and 'Permission denied' in line for line in out), out
