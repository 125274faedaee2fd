"""xmodal_lab.models."""
