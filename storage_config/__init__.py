"""Where Shuying keeps things: settings, storage locations and their backends."""
