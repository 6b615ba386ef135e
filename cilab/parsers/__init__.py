"""Pure parsers for the raw outputs the suite reads (ss, hubble, kubectl objects, metrics)."""
