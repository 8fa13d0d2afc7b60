"""exoray.simulate"""
