"""exoray.preprocess"""
