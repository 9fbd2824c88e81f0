"""The gateway raises its own limit on open files at start (each session holds about three)."""

from __future__ import annotations

import subprocess
import sys


def test_the_soft_open_files_limit_is_raised_to_the_hard_limit() -> None:
    code = (
        "import resource; from interceptor.service import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "got = raise_open_files_limit()\n"
        "print(got, *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    got, soft, hard = (int(x) for x in out)
    assert got == soft == hard, "the soft limit is the hard limit now, and the function says so"
