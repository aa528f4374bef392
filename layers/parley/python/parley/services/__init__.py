"""Services wire pure domain decisions to the adapters: load, decide, commit, publish."""
