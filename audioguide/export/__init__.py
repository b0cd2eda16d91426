"""Stage 6, export: audio files, tags, chapters and cover, and the sidecar files, written atomically."""
