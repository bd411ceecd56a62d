"""The four salesops services; none imports another."""
