"""Activities: what each node and its partners delivered, where, when, and to how many."""
