#!/usr/bin/env python3
"""A seccomp agent, as the one a linux.seccomp.listenerPath names: it answers the syscalls a
profile gives SCMP_ACT_NOTIFY, on behalf of the container's processes.

Usage: seccomp-agent.py SOCKET [RULE...]

RULE is NAME=ANSWER, ANSWER one of
  errno:N     the syscall fails with errno N
  value:N     the syscall "succeeds" and returns N, without running
  continue    the syscall runs as if no filter were there (SECCOMP_USER_NOTIF_FLAG_CONTINUE)
NAME is a syscall name of the table below (a name this machine does not have is ignored); a
notified syscall without a rule gets ENOSYS.

Listens on the unix socket SOCKET and prints "listening". For each connection (one per
container process the runtime hands over) it reads the container process state the runtime
sends (one JSON document, the fds with SCM_RIGHTS) and prints one JSON line {"event": "state",
"state": ..., "fds": N, "fdKind": ...}, then answers the notifications on the fd in a thread of
its own, printing {"event": "notif", "pid", "syscall", "path", "answer"} for each (path: the
path argument of the syscalls of PATH_ARG, read from the process's memory), {"event":
"recv-error", "errno"} for one that went away before it could be read (its
process killed), and {"event": "closed", "pid"} once no process uses the filter any more. It
runs until it is killed.
"""
import fcntl
import json
import os
import platform
import select
import socket
import struct
import sys
import threading

# Syscall numbers (asm/unistd.h): only what the tests notify.
SYSCALLS = {
    "x86_64": {"mkdir": 83, "mkdirat": 258, "getpid": 39, "uname": 63, "rmdir": 84, "unlinkat": 263},
    "aarch64": {"mkdirat": 34, "getpid": 172, "uname": 160, "unlinkat": 35},
}[platform.machine()]
NAMES = {nr: name for name, nr in SYSCALLS.items()}
# Which argument of the syscall is a path, for the log.
PATH_ARG = {"mkdir": 0, "mkdirat": 1, "rmdir": 0, "unlinkat": 1}

# linux/seccomp.h
NOTIF = struct.Struct("=QII" + "iIQ6Q")  # struct seccomp_notif: id, pid, flags, seccomp_data
RESP = struct.Struct("=QqiI")  # struct seccomp_notif_resp: id, val, error, flags
IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
FLAG_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE

out_lock = threading.Lock()


def emit(obj) -> None:
    with out_lock:
        print(json.dumps(obj), flush=True)


def parse_rules(args):
    rules = {}
    for a in args:
        name, answer = a.split("=", 1)
        if not (answer == "continue" or answer.startswith(("errno:", "value:"))):
            raise SystemExit(f"seccomp-agent.py: bad answer {answer}")
        if name in SYSCALLS:
            rules[SYSCALLS[name]] = answer
    return rules


def read_path(pid: int, addr: int) -> str:
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            mem.seek(addr)
            data = mem.read(4096)
    except OSError as e:
        return f"<{e.strerror}>"
    return data.split(b"\0", 1)[0].decode(errors="replace")


def serve(fd: int, state_pid: int, rules) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        events = poller.poll()
        if any(ev & select.POLLIN for _, ev in events):
            buf = bytearray(NOTIF.size)
            try:
                fcntl.ioctl(fd, IOCTL_NOTIF_RECV, buf, True)
            except OSError as e:
                emit({"event": "recv-error", "errno": e.errno})
                continue  # the process went away (or was killed) before we got to it
            nid, pid, _flags, nr, _arch, _ip, *args = NOTIF.unpack(buf)
            name = NAMES.get(nr, str(nr))
            answer = rules.get(nr, "errno:38")
            path = read_path(pid, args[PATH_ARG[name]]) if name in PATH_ARG else None
            val, error, flags = 0, 0, 0
            if answer == "continue":
                flags = FLAG_CONTINUE
            elif answer.startswith("errno:"):
                error = -int(answer[6:])
            elif answer.startswith("value:"):
                val = int(answer[6:])
            emit({"event": "notif", "pid": pid, "syscall": name, "path": path, "answer": answer})
            try:
                fcntl.ioctl(fd, IOCTL_NOTIF_SEND, bytearray(RESP.pack(nid, val, error, flags)), True)
            except OSError:
                pass  # the process was killed while we answered
        elif any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events):
            emit({"event": "closed", "pid": state_pid})
            os.close(fd)
            return


def handle(conn: socket.socket, rules) -> None:
    # One JSON document, in one or more messages (the fds come with the first); the runtime
    # may keep the connection open after it (runc 1.1 closes it only when it exits).
    data = b""
    fds = []
    state = None
    while state is None:
        msg, got, _flags, _addr = socket.recv_fds(conn, 65536, 8)
        fds += got
        data += msg
        try:
            state = json.loads(data)
        except ValueError:
            if not msg:
                state = {"unparsed": data.decode(errors="replace")}
    conn.close()
    kind = os.readlink(f"/proc/self/fd/{fds[0]}") if fds else None
    emit({"event": "state", "state": state, "fds": len(fds), "fdKind": kind})
    for extra in fds[1:]:
        os.close(extra)
    if fds:
        threading.Thread(target=serve, args=(fds[0], state.get("pid"), rules), daemon=True).start()


def main() -> int:
    rules = parse_rules(sys.argv[2:])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sys.argv[1])
    srv.listen(16)
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        handle(conn, rules)


if __name__ == "__main__":
    sys.exit(main())
