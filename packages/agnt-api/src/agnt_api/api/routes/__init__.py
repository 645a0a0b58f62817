"""One module per resource; each route parses, calls a service, shapes the answer."""
