"""Test and bench helpers that ship with the API (generated corpora); no test framework here."""
