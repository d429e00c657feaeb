"""Test support for energo_qtum: an anvil launcher and a Janus test double.

Nothing here is for a real network."""
