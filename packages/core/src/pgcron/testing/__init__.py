"""Test support for pgcron users and for pgcron's own tests (pytest plugin: `pgcron.testing.plugin`)."""
