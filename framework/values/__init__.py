"""framework/values"""
