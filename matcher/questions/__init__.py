"""The three questions the engine answers, one module per direction."""
