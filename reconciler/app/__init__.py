"""The service: wiring (``service``), the HTTP API (``http``), API tokens (``auth``), and the
JSON shapes it answers with (``views``)."""
