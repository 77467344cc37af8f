"""Contenders: each runs in its own process so that peak memory is its own."""
