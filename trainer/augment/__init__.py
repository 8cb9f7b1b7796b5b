"""Query augmentation for robustness: spelling noise and synthetic queries."""
