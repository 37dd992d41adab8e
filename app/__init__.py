"""Landscape Studio's Gradio front end: turns engine steps into UI updates and figures."""
