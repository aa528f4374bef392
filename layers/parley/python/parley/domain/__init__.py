"""Pure chat logic: models and decisions. No I/O here, so every rule is unit-tested without AWS."""
