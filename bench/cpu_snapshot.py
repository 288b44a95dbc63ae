#!/usr/bin/env python3
"""CPU time per process, for bench/run.sh's noise report.

cpu_snapshot.py > FILE            one line per process: pid ticks comm
cpu_snapshot.py A B SECONDS PID...  the processes that used the most CPU
                                  between snapshots A and B, except the PIDs
                                  given (the load itself), as "comm(pid) cores"
"""
import os
import sys


def snapshot():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
        fields = s[s.rindex(")") + 2:].split()
        # utime, stime, cutime, cstime: children that exited count for their
        # parent (a test suite's short-lived processes show as its shell);
        # not for PID 1, which reaps every orphan on the machine.
        out[pid] = (sum(int(x) for x in fields[11:15 if pid != "1" else 13]), comm)
    return out


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            pid, ticks, comm = line.split()
            out[pid] = (int(ticks), comm)
    return out


if len(sys.argv) == 1:
    for pid, (ticks, comm) in snapshot().items():
        print(pid, ticks, comm)
    sys.exit(0)

a, b = load(sys.argv[1]), load(sys.argv[2])
seconds = float(sys.argv[3])
exclude = set(sys.argv[4:])
hz = os.sysconf("SC_CLK_TCK")
used = []
for pid, (ticks, comm) in b.items():
    if pid in exclude:
        continue
    d = ticks - a.get(pid, (0, comm))[0]
    if d > 0:
        used.append((d, comm, pid))
used.sort(reverse=True)
print(", ".join("%s(%s) %.2f" % (comm, pid, d / hz / seconds) for d, comm, pid in used[:3]) or "none seen")
