"""Pure functions: the objects the cluster should hold, from specs and observed state.

Nothing here talks to the API server; the handlers apply what these functions return.
"""
