"""Helpers around the pipeline: voice previews, voice-pack scripts and voice measurements."""
