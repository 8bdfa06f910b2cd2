"""Partners: each node's register of the organisations that deliver,
host or fund music education."""
