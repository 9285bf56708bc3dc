"""evospace.bench"""
