"""Fault tests on real processes: Redis, PostgreSQL, a worker and the media disk break while the app runs."""
