"""Hardware drivers: each device is a small Protocol, real backend(s) and a simulated backend.

Real backends import their hardware libraries lazily so a development machine without the
hardware (or without the library) can still import the package and use the simulators.
"""
