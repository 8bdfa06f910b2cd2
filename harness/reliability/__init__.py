"""``hub reliability``: prove the hub keeps working and loses nothing under crashes, cut links,
hostile input, degraded dependencies and sustained load, and print the figures.

``cluster`` runs the leaf topology as separate processes the harness can SIGKILL, ``workload``
drives the services' HTTP APIs, ``truth`` reconciles the hub against the nodes' own databases,
``crash``/``soak``/``hostile`` are the phases and ``run`` prints them.
"""
