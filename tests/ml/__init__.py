"""Tests for the plain ml library."""
