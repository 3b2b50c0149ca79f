"""Logs, metrics, traces and billing records of invocations."""
