"""Dataset import and export tests."""
