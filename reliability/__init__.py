"""Reliability pipeline for judge sandboxes (QA-REL-001)."""

__version__ = "0.1.0"
