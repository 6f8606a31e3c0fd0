"""Side-by-side benchmark of the message export: reference design, pipeline, stage ceilings,
extraction, Airflow overhead. ``python -m bench`` (full) or ``python -m bench --quick``."""
