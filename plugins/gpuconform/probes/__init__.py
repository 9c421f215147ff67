"""Probes observe the host and return Facts; they never assert and never skip."""

from __future__ import annotations
