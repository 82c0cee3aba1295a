"""The violation history of each sovereign namespace: a bounded, hash-chained record of
when each violation started and ended, kept in the cluster where tenants cannot write.

:mod:`souverain.history.chain` is pure (records, diff, bounding, verification);
:mod:`souverain.handlers.history` reads and writes the ConfigMaps.
"""
