"""sensors of the pgcron Airflow provider."""
