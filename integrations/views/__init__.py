"""Dashboard views, one module per area; each is thin (selectors read, services write)."""
