#!/usr/bin/env python3
"""Runs a command on a new terminal, as a user's shell would.

Usage: pty-run.py ROWS COLS [--when MARKER (--resize ROWS COLS | --type TEXT)]... COMMAND [ARG...]

The command gets a new session whose controlling terminal is a fresh pty of ROWS x COLS, as
its stdin, stdout and stderr. Whatever it writes there is copied to our stdout. Each --when
action runs once, as soon as the output so far contains MARKER: --resize changes the
terminal's size (the kernel then sends SIGWINCH to its foreground processes), --type writes
TEXT as if typed on the keyboard. Exits with the command's exit code (128 + N for signal N).
"""
import fcntl
import os
import struct
import subprocess
import sys
import termios


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main() -> int:
    args = sys.argv[1:]
    rows, cols = int(args[0]), int(args[1])
    args = args[2:]
    actions = []
    while args and args[0] == "--when":
        if args[2] == "--resize":
            actions.append((args[1], "resize", (int(args[3]), int(args[4]))))
            args = args[5:]
        else:
            actions.append((args[1], "type", args[3].encode()))
            args = args[4:]
    master, slave = os.openpty()
    set_size(slave, rows, cols)

    def become_terminal_owner() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=become_terminal_owner)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the command and everything it started closed the terminal
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        seen += chunk
        for action in list(actions):
            marker, kind, arg = action
            if marker.encode() in seen:
                actions.remove(action)
                if kind == "resize":
                    set_size(master, *arg)
                else:
                    os.write(master, arg)
    code = proc.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
