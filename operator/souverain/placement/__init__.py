"""Placement at run time: what the operator knows of bound namespaces, nodes and pods
(:mod:`~souverain.placement.state`), the loop that reports and evicts pods on nodes that
do not qualify (:mod:`~souverain.placement.settle`), and the TLS server of the placement
webhooks (:mod:`~souverain.placement.server`). The webhooks' answers are the pure
function :func:`souverain.admission.review.review`."""
