"""Test support: a real anvil, the real compiled contracts, role-named accounts."""
