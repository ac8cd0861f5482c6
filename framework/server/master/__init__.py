"""framework/server/master"""
