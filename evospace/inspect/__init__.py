"""evospace.inspect"""
