"""Demo data: a deterministic, streaming generator of a gaming platform's event traffic.

    from app.demo import generate
    for event in generate(100_000, days=7, seed=42):
        ...

Standard library only; no dependency on the rest of the application.
"""

from .generator import generate

__all__ = ["generate"]
