"""Alerting: rules as data (rules.py), a pure evaluation (evaluate.py), the lifecycle of alert
instances in the meta database (lifecycle.py), notifications (notify.py) and the scheduler
process that ties them together (scheduler.py)."""
