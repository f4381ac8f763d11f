"""The daemon in-process: fake adapters, a temporary store, a virtual clock (no sleeps)."""
