"""The service's routers, one module per resource group; each exposes ``router``."""
