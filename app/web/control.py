"""The six control views: Event Timeline, Error History, User Actions, Admin Operations, API Activity, Integration Status."""
