"""The project's shared package: contracts, envelope, bus and store plumbing for every service."""
