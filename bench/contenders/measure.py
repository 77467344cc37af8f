"""``python -m bench.contenders.measure MODULE ARGS…``: run a module, then report peak RSS."""

import atexit
import resource
import runpy
import sys


def _report() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak_rss_mb={peak:.1f}", file=sys.stderr)


atexit.register(_report)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
