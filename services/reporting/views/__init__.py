"""Read models and routes per context, beside the hub report in ``queries.py``."""
