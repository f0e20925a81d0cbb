"""AniX Studio GPU service: ZeroMQ server, workers, scene cache, and the client the add-on bundles."""
