"""A2A v1.0: every agnt agent as an A2A agent (Agent Card + JSON-RPC binding), on the API's services."""

from agnt_api.a2a.routes import router

__all__ = ["router"]
