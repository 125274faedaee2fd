"""xmodal_lab.viz."""
