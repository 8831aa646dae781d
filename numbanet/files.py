"""Writing files so that a crash never leaves half of one: the model files and the data cache both
go through here. A file comes out as open(path, 'w') would make it: new files with the permissions the
umask allows, a file replaced keeping its mode, and a missing folder an error rather than created."""
import errno
import os
import re
import secrets
import stat

_PREFIX = '.tmp-'
_TAIL = re.compile(r'(\d+)-[0-9a-f]{8}')  # '<pid>-<random>' after the prefix and name


def write_atomic(path, data):
    """Write bytes to path so that readers see the old file or the complete new one, never a part."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write {name}: no such directory", folder)
    _remove_stale(folder, name)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    # The pid in the name tells a later save whether the writer is still alive (see _remove_stale).
    tmp = os.path.join(folder, f"{_PREFIX}{name[:100]}-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, 'wb') as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_folder(folder)


def _remove_stale(folder, name):
    """Delete the temporaries a killed save to this name left behind; a live writer's are left alone."""
    start = f"{_PREFIX}{name[:100]}-"
    for entry in os.listdir(folder):
        tail = _TAIL.fullmatch(entry[len(start):]) if entry.startswith(start) else None
        if tail is None:
            continue
        pid = int(tail.group(1))
        if pid != os.getpid() and not _alive(pid):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass  # another save got there first, or it is not ours to remove


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _sync_folder(folder):
    # The rename reaches the disk with the folder's entry: without it a power cut can bring the old file back.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
