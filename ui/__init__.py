"""Quarry desktop app (PySide6): thin face over wallet/ and trainer/."""
