"""Tiny MBPP-style problems (statement, reference code, setup, three asserts) for the code
generation tests, written here so tests never read ../shared."""

import json
from pathlib import Path

_PROBLEMS = [
    ("Write a function to add two numbers.", "def add(a, b):\n    return a + b",
     ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]),
    ("Write a function to square a number.", "def square(x):\n    return x * x",
     ["assert square(2) == 4", "assert square(3) == 9", "assert square(0) == 0"]),
    ("Write a function to reverse a string.", "def rev(s):\n    return s[::-1]",
     ["assert rev('ab') == 'ba'", "assert rev('') == ''", "assert rev('abc') == 'cba'"]),
    ("Write a function to find the maximum of a list.", "def biggest(xs):\n    return max(xs)",
     ["assert biggest([1, 3, 2]) == 3", "assert biggest([5]) == 5", "assert biggest([-1, -2]) == -1"]),
    ("Write a function to count vowels.", "def vowels(s):\n    return sum(c in 'aeiou' for c in s)",
     ["assert vowels('hello') == 2", "assert vowels('') == 0", "assert vowels('aei') == 3"]),
    ("Write a function to check if a number is even.", "def is_even(n):\n    return n % 2 == 0",
     ["assert is_even(2)", "assert not is_even(3)", "assert is_even(0)"]),
]  # fmt: skip


def write_problems(path: Path) -> Path:
    """Six problems with task_ids 1..6 (split them e.g. train [3, 6], validation [2, 2],
    test [1, 2])."""
    with open(path, "w", encoding="utf-8") as f:
        for task_id, (text, code, tests) in enumerate(_PROBLEMS, 1):
            row = {"text": text, "code": code, "task_id": task_id, "test_setup_code": "",
                   "test_list": tests, "challenge_test_list": []}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    return path
