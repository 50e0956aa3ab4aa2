"""Searching and investigating: request parameters, context, timelines, exports."""
