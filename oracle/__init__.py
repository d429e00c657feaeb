"""The Energo meter-gateway daemon: reads meters, signs readings, puts them on-chain.

Entry points: ``oracle.cli:main`` (the ``energo-oracle`` command) and
``oracle.daemon.Daemon`` (to run gateways in-process, e.g. for the demo).
"""
