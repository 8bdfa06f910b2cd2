"""What is not the product: the benchmark, the reliability drills, the sample hub, and the
screenshot, page-timing and front-end asset tooling.

Kept out of ``services/`` and ``shared/`` so a deployed service carries none of it and cannot come
to depend on it (``tests/test_harness_boundary.py`` checks that no runtime module imports it). The
``hub`` launcher imports it lazily, only inside the commands that need it (``hub demo``,
``hub bench``, ``hub reliability``, ``hub dashboard screenshots``,
``hub activities sample-register``).
"""
