"""Known data sets the product can build: a synthetic demo set and public ADME sets (see ``registry``)."""
