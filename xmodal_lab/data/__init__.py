"""xmodal_lab.data."""
