"""Writes and workflows. Views, forms, commands and tasks call these; they never save rows."""
