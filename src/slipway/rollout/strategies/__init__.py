"""Pure planning for each deployment strategy."""
