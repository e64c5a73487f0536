#!/usr/bin/env python3
"""Runs a command on a new terminal, as a user's shell would.

Usage: pty-run.py ROWS COLS COMMAND [ARG...]

The command gets a new session whose controlling terminal is a fresh pty of ROWS x COLS, as
its stdin, stdout and stderr. Whatever it writes there is copied to our stdout; our stdin is
not used. Exits with the command's exit code (128 + N when signal N killed it).
"""
import fcntl
import os
import struct
import subprocess
import sys
import termios


def main() -> int:
    rows, cols = int(sys.argv[1]), int(sys.argv[2])
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def become_terminal_owner() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(sys.argv[3:], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=become_terminal_owner)
    os.close(slave)
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the command and everything it started closed the terminal
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    code = proc.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
