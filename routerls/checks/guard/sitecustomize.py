"""Loaded first by every Python that routerls' checks start (it is first on PYTHONPATH): the
user's tests run offline and write only inside the scratch copy.

An audit hook (PEP 578) refuses network calls and writes outside `ROUTERLS_GUARD_ROOTS`. Where
the kernel allows it the run is also in its own network namespace (`unshare -rn`), which holds
for programs that are not Python too. Not a sandbox against malice; a fence against accidents.
"""

import os
import socket
import sys

_ROOTS = tuple(os.path.realpath(p) for p in os.environ.get("ROUTERLS_GUARD_ROOTS", "").split(os.pathsep) if p)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {"os.remove": (0,), "os.rename": (0, 1), "os.mkdir": (0,), "os.rmdir": (0,),
                "shutil.rmtree": (0,), "os.symlink": (1,), "os.link": (1,), "os.chmod": (0,),
                "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,)}
_NET_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
               "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}


def _inside(path) -> bool:
    if path is None or isinstance(path, int):
        return True  # an already open descriptor
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real.startswith("/dev/") or any(real == r or real.startswith(r + os.sep) for r in _ROOTS)


def _hook(event, args):
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and not _inside(path):
            raise PermissionError(f"routerls checks: writing outside the scratch copy is blocked ({path})")
    elif event in _PATH_EVENTS:
        for i in _PATH_EVENTS[event]:
            if i < len(args) and not _inside(args[i]):
                raise PermissionError(f"routerls checks: changing files outside the scratch copy is "
                                      f"blocked ({event} {args[i]})")
    elif event in _NET_EVENTS:
        sock = args[0] if args and isinstance(args[0], socket.socket) else None
        if sock is None or sock.family != getattr(socket, "AF_UNIX", -1):
            raise OSError(f"routerls checks: network access is blocked while tests run ({event})")


if _ROOTS:
    sys.addaudithook(_hook)
