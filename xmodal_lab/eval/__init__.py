"""xmodal_lab.eval."""
