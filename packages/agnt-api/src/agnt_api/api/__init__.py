"""The HTTP layer: thin routes, auth dependencies, problem+json, request middleware."""
