"""Pseudo-terminals made inside the container, handed to the shim over a console socket (runc style).

The process that will own the terminal (the container init, or an exec'd process) runs this after
it is inside the container's mount namespace, so ``/dev/ptmx`` is the container's own devpts
instance (``newinstance``) and ``tty`` prints ``/dev/pts/N`` of the container::

    master, slave = open_pty(size=(h, w), owner=uid)   # before dropping privileges
    send_console(console_sock_fd, master)                # SCM_RIGHTS to the shim; master closed here
    ... dup2(slave → 0, 1, 2); TIOCSCTTY; execve

The shim receives the master with ``recv_console`` and keeps it for the process' whole life.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

# <asm-generic/ioctls.h>: the same numbers on x86_64 and aarch64.
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int): the pty number of a ptmx master
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int): lock/unlock the slave (unlockpt)


def set_winsize(fd: int, h: int, w: int) -> None:
    if h > 0 and w > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))


def open_pty(size: tuple[int, int] = (0, 0), owner: int | None = None) -> tuple[int, int]:
    """A new pty from the current mount namespace's ``/dev/ptmx``: (master, slave), both CLOEXEC.

    The slave is sized before anything runs on it (no wrong size at start) and, when ``owner``
    is given, chowned to that uid (its group stays devpts' ``gid=5``, tty), as runc does.
    """
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        (n,) = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))
        slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    try:
        set_winsize(slave, *size)
        if owner is not None:  # also 0: in a user namespace the opener's host uid may be unmapped there
            os.fchown(slave, owner, -1)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return master, slave


def send_console(sock_fd: int, master: int) -> None:
    """Send the pty master over the console socket and close our copy."""
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        socket.send_fds(sock, [b"console"], [master])
    finally:
        sock.close()
        os.close(master)


def recv_console(sock: socket.socket) -> int | None:
    """The master sent by ``send_console``, or None if the peer closed without sending one."""
    msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 1)
    if msg != b"console" or not fds:
        for fd in fds:
            os.close(fd)
        return None
    return fds[0]
