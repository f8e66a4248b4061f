"""Copy-up: a volume that is empty when first mounted gets the image's content at its target.

Run by the container's init before pivot_root, after the rootfs is mounted and before the volume is
bound over the target (Docker copies the same content, ``copyExistingContents``). The source is the
target resolved inside the rootfs by ``secure_join``; the walk below never follows a symlink (each is
copied as a link), so content of the container cannot make the init read or write outside it.
Only the stdlib: this runs in the init path.
"""

from __future__ import annotations

import os
import stat

_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_up(source: str, volume: str) -> bool:
    """Copy the directory ``source`` into ``volume`` when ``volume`` is an empty directory; then the
    volume's root takes the owner and mode of ``source``. Returns whether anything was done."""
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    try:
        if os.listdir(volume):
            return False
    except (FileNotFoundError, NotADirectoryError):
        return False
    _copy_dir(source, volume, {})
    os.chown(volume, st.st_uid, st.st_gid)
    os.chmod(volume, stat.S_IMODE(st.st_mode))
    return True


def _copy_dir(src: str, dst: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(src) as it:
        entries = list(it)
    for e in entries:
        s, d = os.path.join(src, e.name), os.path.join(dst, e.name)
        st = e.stat(follow_symlinks=False)
        mode = st.st_mode
        key = (st.st_dev, st.st_ino)
        try:
            if not stat.S_ISDIR(mode) and st.st_nlink > 1 and key in links:
                os.link(links[key], d)
                continue
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
            elif stat.S_ISREG(mode):
                _copy_file(s, d)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(d, 0o600)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(d, mode, st.st_rdev)
            else:
                continue  # sockets are not copied
        except FileExistsError:
            continue  # another container sharing the volume is copying the same content right now
        if stat.S_ISDIR(mode):
            _copy_dir(s, d, links)
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            links[key] = d
        os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(d, stat.S_IMODE(mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, dst: str) -> None:
    fin = os.open(src, _NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            while True:
                n = os.sendfile(fout, fin, None, 1 << 20)
                if n == 0:
                    break
        finally:
            os.close(fout)
    finally:
        os.close(fin)
