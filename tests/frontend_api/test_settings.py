"""Obviously wrong configuration is refused at start-up with a message that says what to fix."""

import json

import pytest
from pydantic import ValidationError

from frontend_api.__main__ import main
from frontend_api.core.config import ConfigError, Settings
from frontend_api.main import build_context


def test_needs_addresses():
    with pytest.raises(ValidationError, match="deployments file"):
        Settings()


def test_refuses_a_missing_deployments_file(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        Settings(deployments=tmp_path / "nope.json")


@pytest.mark.parametrize("field, value, message", [
    ("rpc_url", "localhost:8545", "http"),
    ("battery_address", "0x1234", "20-byte"),
    ("battery_address", "0x9965507d1a55bcc2695c58ba16fb37d819b0a4DC", "checksum"),
    ("database_url", "mysql://x", "sqlite"),
    ("confirmations", -1, "greater than or equal"),
    ("port", 70000, "less than or equal"),
])
def test_refuses_wrong_values(field, value, message):
    kwargs = {"battery_address": "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", field: value}
    with pytest.raises(ValidationError, match=message):
        Settings(**kwargs)


def test_refuses_a_deployments_file_of_another_chain(tmp_path, deployments_file, api_anvil):
    data = json.loads(deployments_file.read_text())
    data["chainId"] = 81
    wrong = tmp_path / "81.json"
    wrong.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="chain 81"):
        build_context(Settings(deployments=wrong, rpc_url=api_anvil.url, database_url=f"sqlite:///{tmp_path}/x.db"))


def test_refuses_addresses_without_code(tmp_path, deployments_file, api_anvil):
    data = json.loads(deployments_file.read_text())
    data["contracts"]["SharedBattery"] = "0x000000000000000000000000000000000000dEaD"
    wrong = tmp_path / "8890.json"
    wrong.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="no contract code"):
        build_context(Settings(deployments=wrong, rpc_url=api_anvil.url, database_url=f"sqlite:///{tmp_path}/x.db"))


def test_postgresql_url_gets_the_installed_driver():
    settings = Settings(battery_address="0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
                        database_url="postgresql://u@localhost/db")
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_cli_refuses_with_exit_code_2(tmp_path, capsys):
    assert main(["--deployments", str(tmp_path / "missing.json")]) == 2
    assert "refusing to start" in capsys.readouterr().err
