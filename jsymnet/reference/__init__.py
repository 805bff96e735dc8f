"""Reference implementations jsymnet is checked and measured against (optional extras)."""
