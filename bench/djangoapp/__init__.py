"""Django models of the therapy schema, for the Django baselines (tables created by bench)."""
