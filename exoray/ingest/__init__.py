"""exoray.ingest"""
