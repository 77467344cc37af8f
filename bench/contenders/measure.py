"""``python -m bench.contenders.measure MODULE ARGS…``: run a module, then report peak RSS.

The peak is the process's own high-water mark (``VmHWM`` in ``/proc/self/status``), not
``getrusage``'s ``ru_maxrss``: Linux carries the parent's resident size at fork into the
child's ``ru_maxrss`` across ``exec``, so a contender started by a large bench process would
be charged with the bench's memory (that inflated every figure before 2026-11-23 12:30: the
files scenario's parent held 450 MB after seeding 1M files).
"""

import atexit
import resource
import runpy
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux and BSDs


def _report() -> None:
    print(f"peak_rss_mb={peak_rss_mb():.1f}", file=sys.stderr)


atexit.register(_report)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
