"""Card numbers for corpus cases: `python tests/hostile/luhn.py 411111 16 [count]` prints valid ones
(Luhn check digit) starting with the given digits, so each case can have numbers of its own."""
from __future__ import annotations

import random
import sys


def check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def is_valid(number: str) -> bool:
    return number.isdigit() and check_digit(number[:-1]) == number[-1]


def make(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + check_digit(body)


if __name__ == "__main__":
    prefix, length = sys.argv[1], int(sys.argv[2])
    rng = random.Random()
    for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
        print(make(prefix, length, rng))
