"""fw: a dependency-injection application framework with a multi-process server and a broker."""
