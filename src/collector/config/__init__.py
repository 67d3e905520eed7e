"""Configuration: paths and environment, and the database connection manager."""
