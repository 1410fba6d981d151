"""What several services need: settings, message schemas, preprocessing, datasets, registry and event access."""
