"""The residency report: what an auditor reads to see that each sovereign namespace's
workloads, data and traffic stayed where its profile says.

``collect`` reads the cluster, ``build`` (pure) turns what was read into a
:class:`~souverain.report.schema.Report`, ``html`` renders it as a self-contained page.
"""
