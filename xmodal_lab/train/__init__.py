"""xmodal_lab.train."""
