"""Helpers shared by the tests (fixtures as pytest plugins, fakes, kits)."""
