"""Running r1 from the end-to-end reference checks: every failure is one `FAIL <label>: ...` line, exit 1."""
import shlex
import subprocess
import sys

LABEL = "?"  # set by the check: which preset / type it is about


def fail(msg):
    print(f"FAIL {LABEL}: {msg}")
    sys.exit(1)


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        fail(f"`{shlex.join(cmd)}` exited {res.returncode}:\n{res.stderr[-2000:]}")
    return res.stdout
