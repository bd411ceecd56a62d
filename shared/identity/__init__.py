"""Proven identity: tokens (``tokens``), their verification on every request (``verify``), and minting
them for clients (``client``); ``python -m shared.identity`` issues tokens and keys."""
