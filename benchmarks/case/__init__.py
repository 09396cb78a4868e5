"""The pgcron case benchmark: data-local jobs run inside PostgreSQL vs from the app tier.

Modules: :mod:`case.jobs` (data generators, the three jobs, digests), :mod:`case.wireproxy` (wire bytes and
round trips), :mod:`case.apptier` (the HTTP service and its scheduler call), :mod:`case.indb` (pushdown),
:mod:`case.airflow_dags` (Airflow operators under ``dag.test()``), :mod:`case.runner` (the orchestration,
statistics, table and JSON) and :mod:`case.plots` (the PNG figures).
"""
