#!/usr/bin/env python3
"""The receiving end of a runtime's --console-socket, as conmon or the containerd shim are.

Usage: console-receiver.py SOCKET [INPUT]

Listens on the unix socket SOCKET and prints "listening". For the one connection it gets, it
receives the pty master (SCM_RIGHTS) and prints one JSON line: the name payload sent with it,
how many fds came, and whether the fd is a terminal. It then writes INPUT (if given) to the
master and copies everything the pty outputs to stdout, until the pty's last slave is closed.
"""
import json
import os
import socket
import sys


def main() -> int:
    path = sys.argv[1]
    data = sys.argv[2].encode() if len(sys.argv) > 2 else b""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    conn.close()
    srv.close()
    print(json.dumps({"name": msg.decode(errors="replace"), "fds": len(fds), "isatty": bool(fds) and os.isatty(fds[0])}), flush=True)
    if not fds:
        return 1
    master = fds[0]
    if data:
        os.write(master, data)
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave fd is closed
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
