"""Dashboards as data (dashboards/*.yaml): definitions and validation, and the panels' figures."""
