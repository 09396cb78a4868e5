"""triggers of the pgcron Airflow provider."""
