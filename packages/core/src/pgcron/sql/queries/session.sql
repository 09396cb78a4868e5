-- Named queries that pin a connection's search_path while pgcron runs its own statements on it
-- (pgcron._search_path). A role with CREATE on a schema on the search_path could otherwise shadow a built-in
-- (an exact-type `unnest(bigint[])` beats the polymorphic one) and run code with the caller's rights.

-- name: search_path_current
SELECT pg_catalog.current_setting('search_path') AS search_path;

-- name: search_path_pin
-- pg_temp last: never searched for functions or operators, and after pg_catalog for relations.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false) AS search_path;

-- name: search_path_restore
SELECT pg_catalog.set_config('search_path', %(search_path)s::text, false) AS search_path;
