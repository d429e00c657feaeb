"""Only lists fixture modules; the fixtures live beside the code they serve."""

pytest_plugins = ["energo_testkit.fixtures"]
