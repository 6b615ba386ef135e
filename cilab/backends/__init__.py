"""Lab backends: the only code that touches the outside world."""
