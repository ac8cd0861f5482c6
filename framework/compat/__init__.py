"""The one place fw touches its dependencies' internals, a module per dependency.

Each use is checked once, at import, against the version installed, and has a public-API
fallback that behaves the same: ``aiohttp`` (responses, match info, connection state, the
Server header, the test server) and ``dependency_injector`` (the provider marker).
"""
