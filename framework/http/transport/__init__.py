"""framework/http/transport"""
