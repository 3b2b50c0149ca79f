"""Test support: a real `stratus serve` subprocess and helpers to build function zips."""
