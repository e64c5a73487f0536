#!/usr/bin/env python3
"""The receiving end of a runtime's --pidfd-socket, as a manager's would be.

Usage: pidfd-receiver.py SOCKET [SIGNAL [GO_FILE]]

Listens on the unix socket SOCKET and prints "listening". For the one connection it gets, it
receives one fd (SCM_RIGHTS) and prints one JSON line: the payload sent with it, how many fds
came, and the pid the kernel says the pidfd refers to (its fdinfo's "Pid:"). With SIGNAL (a
number) it then sends that signal through the pidfd (pidfd_send_signal), once GO_FILE exists
if given, and prints "sent".
"""
import json
import os
import signal
import socket
import sys
import time


def main() -> int:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sys.argv[1])
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    conn.close()
    srv.close()
    pid = None
    if fds:
        with open(f"/proc/self/fdinfo/{fds[0]}") as f:
            for line in f:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
    print(json.dumps({"name": msg.decode(errors="replace"), "fds": len(fds), "pid": pid}), flush=True)
    if fds and len(sys.argv) > 2:
        while len(sys.argv) > 3 and not os.path.exists(sys.argv[3]):
            time.sleep(0.01)
        signal.pidfd_send_signal(fds[0], int(sys.argv[2]))
        print("sent", flush=True)
    return 0 if fds else 1


if __name__ == "__main__":
    sys.exit(main())
