"""Test helpers: real servers (PostgreSQL, Redis) on loopback, started or reused per session."""
