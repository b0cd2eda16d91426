"""The stages run in order: plan (load, compile, speak, schedule) and build (render, export)."""
