"""evospace.run"""
