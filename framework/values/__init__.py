"""Typed values in and out, each rule written once for every reader.

fields.py: constraints (``http.Field``) and the type helpers; faults.py: Fault, the named
validation fault, and InvalidInput; convert.py: values from decoded JSON, and JSON written
back; text.py: values from text (path, query, header, cookie, environment, flags);
schema.py: the JSON Schema of a type. HTTP binding, RPC params, config and OpenAPI all
read values through these modules, so they import them directly: this package front
re-exports nothing, and loads nothing.
"""

__all__: list[str] = []
