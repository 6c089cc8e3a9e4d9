"""Quarry wallet core: identity and money. No Qt here (see docs/ARCHITECTURE.md)."""
