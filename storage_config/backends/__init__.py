"""Storage backends: one contract (base.StorageBackend), one module per kind of store."""
