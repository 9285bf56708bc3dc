"""evospace.evolve"""
