"""framework/server/control"""
