"""Interim demo of the ledger: one household, a few signed readings, its main screen."""
