"""The HTTP API edge: request models, routes, and the one place domain errors become status codes."""
