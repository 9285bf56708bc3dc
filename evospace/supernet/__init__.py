"""evospace.supernet"""
