"""The operator's process: its informers, context, leader election, health endpoint and
start-up order (:mod:`souverain.runtime.main`)."""
