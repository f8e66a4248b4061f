"""Find ``args[0]`` the way Go's ``exec.LookPath`` does, with Docker's error phrases.

"executable file not found in $PATH" and "no such file or directory" make the docker CLI exit
127, "permission denied" 126, so the wording here is part of the interface.
"""

from __future__ import annotations

import errno
import os
import stat

from kobako.errors import RuntimeFailure

NOT_FOUND = "ExecNotFound"
NOT_EXECUTABLE = "ExecNotExecutable"


def _executable(path: str) -> OSError | None:
    """None if ``path`` is a regular executable file, else the error Go would report."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc
    if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
        return PermissionError(13, "permission denied")
    return None


def lookup_path(name: str, path_env: str) -> str:
    """The file to execute for ``name`` given the container's ``PATH``; ``RuntimeFailure`` if none."""
    if "/" in name:
        err = _executable(name)
        if err is None:
            return name
        if isinstance(err, PermissionError):
            raise RuntimeFailure(f'exec: "{name}": permission denied', NOT_EXECUTABLE)
        reason = os.strerror(err.errno or 2).lower()
        raise RuntimeFailure(f'exec: "{name}": stat {name}: {reason}', NOT_FOUND)
    if name:
        for d in path_env.split(":"):
            candidate = os.path.join(d or ".", name)
            if _executable(candidate) is None:
                return candidate
    raise RuntimeFailure(f'exec: "{name}": executable file not found in $PATH', NOT_FOUND)


def exec_failure(name: str, exc: OSError) -> RuntimeFailure:
    """Map an ``execve`` error to a RuntimeFailure with the Docker phrase for its errno."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EISDIR):
        return RuntimeFailure(f'exec: "{name}": permission denied', NOT_EXECUTABLE)
    if exc.errno == errno.ENOENT:
        return RuntimeFailure(f'exec: "{name}": no such file or directory', NOT_FOUND)
    return RuntimeFailure(f'exec: "{name}": {os.strerror(exc.errno or 0).lower()}', NOT_EXECUTABLE)
