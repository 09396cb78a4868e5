"""operators of the pgcron Airflow provider."""
