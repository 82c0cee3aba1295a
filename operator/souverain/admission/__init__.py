"""Admission in the API server: the ValidatingAdmissionPolicies and bindings that keep a
profile's guarantees when the operator is down, generated as plain objects."""
