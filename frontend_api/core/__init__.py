"""Settings, chain access, units and the market ABI fitting."""
