"""hooks of the pgcron Airflow provider."""
