"""Processes, CPU time and listening sockets from /proc (Linux), for tests that check what a service runs."""

from __future__ import annotations

import os
import socket

#: Addresses that only this machine can reach.
LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


def processes():
    """pid -> (parent pid, command line) of every process on this machine."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        out[int(d)] = (ppid, cmd)
    return out


def descendants(root: int):
    procs = processes()
    kids = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out[pid] = procs[pid][1]
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def listening(pids):
    """(pid, ip, port) of every listening TCP socket of ``pids`` (from /proc, no tools needed)."""
    inode_pid = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inode_pid[link[8:-1]] = pid
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as fh:
            next(fh)
            for line in fh:
                f = line.split()
                if f[3] != "0A" or f[9] not in inode_pid:  # 0A = LISTEN
                    continue
                hexip, hexport = f[1].split(":")
                raw = bytes.fromhex(hexip)
                if v6:
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    ip = socket.inet_ntop(socket.AF_INET6, raw)
                else:
                    ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
                out.append((inode_pid[f[9]], ip, int(hexport, 16)))
    return out
