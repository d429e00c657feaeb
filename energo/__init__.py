"""Energo: shared definitions for the runtime packages (oracle, frontend_api) and tools.

Nothing here imports Ape: gateways and the API stay light.
"""
