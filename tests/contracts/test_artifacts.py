"""The exported artifacts that runtime packages load are the compile's output, not stale."""

from energo import build


def test_committed_artifacts_match_a_fresh_compile():
    fresh = build.compile_all()
    assert {"TslToken", "SharedBattery", "MeterLedger"} <= set(fresh)
    assert build.stale_artifacts(fresh) == [], "run `make compile` and commit energo/artifacts"


def test_compiler_settings_are_pinned_for_qtum():
    fresh = build.compile_all()
    for name, artifact in fresh.items():
        assert artifact["compiler"]["version"].startswith("0.8.28+"), name
        assert artifact["compiler"]["evmVersion"] == "cancun", name
        assert artifact["compiler"]["optimizer"]["enabled"] is True, name
