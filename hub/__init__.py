"""The ``hub`` command: runs services, the demo and operator tasks. The only package that knows
every service."""
