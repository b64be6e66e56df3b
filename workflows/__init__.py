"""Luigi workflows: thin tasks that call pipeline/ and write their outputs atomically."""
