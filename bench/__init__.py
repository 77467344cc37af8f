"""lethe's benchmarks: lethe side by side with the practical limit and with what users run today.

Run: ``./run bench [--scale 1] [--reps 3] [--only pg,sqlite,...]``. Not part of the test suite,
except a ``--smoke`` run that checks every scenario completes on tiny data and removes the same
rows as its baselines.
"""
