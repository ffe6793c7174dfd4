"""The offline tour behind ``make demo``/``clipzoo demo`` and the embedded tiny-digits model's data.

Uses the public API only (``clipzoo.*``), like a user would.
"""
