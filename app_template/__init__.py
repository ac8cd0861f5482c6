"""The project `fw new` copies (this file marks it as package data and is not copied)."""
