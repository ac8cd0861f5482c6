"""The application's own settings: fields of AppConfig are read from APP_<FIELD>."""

from dataclasses import dataclass


@dataclass
class AppConfig:
    greeting: str = "Hello"
