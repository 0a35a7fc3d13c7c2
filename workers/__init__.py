"""Ray actors that own models, and the PyAV media I/O they (and ``jobs``) use.

This is the only package that knows about Ray.
"""
