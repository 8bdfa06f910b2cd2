"""Hub-wide views per context: a query answering one question, and the route that serves it."""
