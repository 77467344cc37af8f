"""Integrations with application frameworks; each plugs into lethe's own interfaces."""
