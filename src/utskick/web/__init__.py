"""The web application: app factory, pages and the health endpoint."""
