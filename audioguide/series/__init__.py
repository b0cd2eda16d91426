"""Podcast-style series: many builds (parallel, incremental), an RSS feed and a page to listen from."""
