-- One statement: REFRESH … CONCURRENTLY cannot run inside a transaction block, and pg_cron runs a
-- multi-statement command as one transaction.
REFRESH MATERIALIZED VIEW CONCURRENTLY shop.daily_sales
