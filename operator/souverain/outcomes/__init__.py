"""Outcomes computed from the cluster's live state: what can actually happen, whoever
wrote the objects that allow it."""
