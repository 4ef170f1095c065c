"""The protocol itself, pure: entries, the merge, the tick plan, partner choice.

Nothing here does I/O, reads a clock, starts a thread or knows of Flask or
HTTP: time is passed in, randomness is a ``random.Random`` passed in. That is
what lets the same code run in unit tests, property tests and the simulator
(``bench/sim.py``). ``tests/unit/test_layout.py`` enforces it.
"""
