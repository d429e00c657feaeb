"""Deploying and operating Energo: the deploy engine and its configuration, the backends
that send (web3.py, Qtum), the operator commands, and the local Qtum-like chain.

It builds on the kernel (``energo``) and the Qtum library (``energo_qtum``); the Ape
scripts in ``scripts/`` and the community demo drive it. Nothing here imports Ape.
"""

from energo.deployments import DeploymentError, Deployments, default_deployments_path
from energo_deploy.config import DeployConfig
from energo_deploy.engine import (
    Backend,
    Deployer,
    DeploymentMismatch,
    DeployResult,
    Web3Backend,
    code_matches,
    deploy,
)

__all__ = [
    "Backend", "DeployConfig", "DeployResult", "Deployer", "DeploymentError", "DeploymentMismatch", "Deployments",
    "Web3Backend", "code_matches", "default_deployments_path", "deploy",
]
