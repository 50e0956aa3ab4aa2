"""Browser tests (see conftest.py). A package, so its test modules may share names with tests/ ones."""
