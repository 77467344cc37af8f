"""``lethe demo``: a small survey platform to see lethe work end to end."""
