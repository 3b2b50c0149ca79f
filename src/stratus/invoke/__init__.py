"""The invoke path: qualifier → concurrency lease → warm or new environment → outcome."""
