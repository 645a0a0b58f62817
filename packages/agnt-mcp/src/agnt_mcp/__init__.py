"""agnt as an MCP server: the tools and resources, written once against a ``Backend``.

``agnt mcp`` (stdio) serves them over ``agnt_client``; the API's ``/mcp`` (streamable HTTP)
over its own services. Importing this package does not import the ``mcp`` SDK:
``agnt_mcp.server`` does.
"""

__version__ = "0.1.0"
