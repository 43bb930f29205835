"""Presentation: summary text/HTML (and plots, with the optional matplotlib extra)."""
