"""The extension platform: manifests, the registry, the SDK, the core's gateway and hooks."""
