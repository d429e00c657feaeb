"""energo_qtum: build, sign and send Qtum (UTXO) transactions from Python, for use
through Janus, which only relays Qtum-format raw transactions."""
