"""Simulated GPU hosts: a TOML spec becomes a root tree plus shim shared libraries."""
