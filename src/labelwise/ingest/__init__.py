"""Ingest: find, hash, decode, validate and thumbnail images."""
