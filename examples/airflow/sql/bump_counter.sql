-- Rendered with Jinja before it is pushed down: params come from the DAG run's conf.
UPDATE {{ params.counter_table }} SET n = n + 1, updated_at = now();
