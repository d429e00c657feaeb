"""Energo's test kit (development only; never installed on a gateway or an API host).

- ``fixtures``: the pytest plugin (``tests/conftest.py`` lists it): one real anvil and one
  deployment per session, role-named accounts, a snapshot/revert around every test.
- ``clock``: moving the local chain's clock.
- ``janus_double``, ``mempool``, ``anvil``: a test double of Janus and qtumd over a real
  anvil, for what cannot run here (no qtumd).
- ``scenario``: a deployed system with known state, for the API's tests and benchmark.
- ``rpc_proxy``: a JSON-RPC proxy that injects faults and outages (refused, hung, bad answers).
"""
