"""The project's benchmark: ``python -m deploy.bench [--full]`` (or ``./salesops bench [--full]``)."""
